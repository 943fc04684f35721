"""The room and the microphone a synthetic clip goes through: each effect does what it says,
at the level and SNR drawn, and the same draw gives the same clip."""

from __future__ import annotations

import numpy as np

from gru_edge.degrade import Degradation, band_limit, degrade, draw, room_response

RATE = 16000


def tone_burst(seconds: float = 0.5, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def rms_dbfs(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def band_energy(samples: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float(spectrum[(hz >= low) & (hz < high)].sum())


def test_the_voice_lands_at_its_level_where_it_was_placed():
    speech = tone_burst()
    drawn = Degradation(level_dbfs=-30.0, floor_db=40.0)
    clip = degrade(speech, drawn, RATE, 4000, [], RATE, seed=0)
    assert len(clip) == RATE and clip.dtype == np.float32
    assert abs(rms_dbfs(clip[4000 : 4000 + len(speech)]) - -30.0) < 0.01
    # Before and after the voice: its floor, 40 dB under it, never digital silence.
    assert abs(rms_dbfs(clip[:4000]) - -70.0) < 2.0 and np.all(clip[4000 + len(speech) :] != 0)


def test_noise_is_mixed_at_the_drawn_snr_over_the_voice():
    noise = np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32)
    speech = tone_burst()
    drawn = Degradation(noise=0, noise_start=0.5, snr_db=10.0, level_dbfs=-20.0, floor_db=200.0)
    clip = degrade(speech, drawn, RATE, 0, [noise], RATE, seed=0)
    alone = degrade(
        speech, Degradation(level_dbfs=-20.0, floor_db=200.0), RATE, 0, [], RATE, seed=0
    )
    # Same gain on both parts: the noise is the difference, scaled alike.
    spoken = slice(0, len(speech))
    scale = np.sqrt(np.mean(clip[spoken] ** 2)) / np.sqrt(np.mean(alone[spoken] ** 2))
    residue = clip / scale - alone
    snr = rms_dbfs(alone[spoken]) - rms_dbfs(residue[spoken])
    assert abs(snr - 10.0) < 1.0
    assert rms_dbfs(clip[len(speech) :]) > -60  # the noise goes on after the voice


def test_reverberation_leaves_a_decaying_tail_after_the_voice():
    speech = tone_burst(0.3)
    drawn = Degradation(rt60=0.5, drr_db=0.0, level_dbfs=-20.0, floor_db=200.0)
    clip = degrade(speech, drawn, RATE, 0, [], RATE, seed=3)
    tail = clip[len(speech) : len(speech) + 4000]
    assert rms_dbfs(tail[:1000]) > rms_dbfs(tail[3000:]) > -90
    response = room_response(0.5, 6.0, RATE, np.random.default_rng(0))
    reverberant = np.sum(response[1:] ** 2)
    assert abs(10 * np.log10(1 / reverberant) - 6.0) < 0.01  # the direct-to-reverberant ratio


def test_band_limiting_removes_what_the_microphone_does_not_hear():
    noise = np.random.default_rng(2).standard_normal(RATE)
    limited = band_limit(noise, 300.0, 3400.0, RATE)
    inside = band_energy(limited, 600, 3000) / band_energy(noise, 600, 3000)
    assert inside > 0.99
    assert band_energy(limited, 0, 140) / band_energy(noise, 0, 140) < 1e-6
    assert band_energy(limited, 4400, 8000) / band_energy(noise, 4400, 8000) < 1e-6


def test_draws_are_seeded_and_noise_needs_recordings():
    first = [draw(np.random.default_rng(7), 3) for _ in range(2)]
    assert first[0] == first[1]
    draws = [draw(np.random.default_rng(seed), 0) for seed in range(200)]
    assert all(d.noise == -1 for d in draws)
    assert 0.4 < np.mean([d.rt60 > 0 for d in draws]) < 0.8
    assert all(
        5 <= d.snr_db <= 30
        for d in (draw(np.random.default_rng(s), 2) for s in range(50))
        if d.noise >= 0
    )
    assert all(-36 <= d.level_dbfs <= -12 for d in draws)
    speech = tone_burst()
    drawn = draw(np.random.default_rng(5), 1)
    noise = [np.random.default_rng(0).standard_normal(RATE).astype(np.float32)]
    again = [degrade(speech, drawn, RATE, 100, noise, RATE, seed=9) for _ in range(2)]
    assert np.array_equal(*again)
