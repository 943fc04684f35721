"""What a room and a microphone do to clean speech: reverberation, band-limiting, noise, level.

Text-to-speech voices are clean, close to the microphone and at one level; a wake word is said
across a kitchen, over a television, into a cheap microphone, loud or quiet. Each synthetic
clip of a custom word gets a seeded random draw of these (`Degradation`, written into the
manifest), so that the model is taught the word as a device hears it.

numpy's FFT does the filtering and the convolution rather than scipy.signal: gru_edge does not
depend on scipy, and these are offline effects on seconds of audio, where an FFT is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gru_edge.datasets import pink_noise

# The draws, each effect applied with its probability: ranges seen in homes and on devices.
REVERB_PROBABILITY = 0.6
RT60_S = (0.15, 0.9)  # reverberation time, a furnished room to a bare hall
DRR_DB = (-2.0, 12.0)  # direct-to-reverberant ratio: far from the microphone to close
BAND_PROBABILITY = 0.5
LOW_HZ = (60.0, 400.0)  # the microphone's and its case's low cut
HIGH_HZ = (3400.0, 7500.0)  # telephone band to a good MEMS microphone
# Training mixes noise in again (augment.noise_probability, the stream recipe's backgrounds):
# here it is lighter, so that a clip of the word stays the word after both.
NOISE_PROBABILITY = 0.4
SNR_DB = (5.0, 30.0)
LEVEL_DBFS = (-36.0, -12.0)  # the speech's RMS: a quiet voice far away to a shout nearby
PEAK_DBFS = -1.0
# Every microphone hears something: a floor of pink noise this far below the voice, so that no
# clip holds digital silence (a cue real audio never gives).
FLOOR_DB = (25.0, 50.0)


@dataclass(frozen=True)
class Degradation:
    """One clip's draw. rt60 0 means no reverberation, high_hz 0 no band-limiting, noise -1
    no noise (else the index of the noise recording and where in it the noise starts)."""

    rt60: float = 0.0
    drr_db: float = 0.0
    low_hz: float = 0.0
    high_hz: float = 0.0
    noise: int = -1
    noise_start: float = 0.0  # a fraction of the recording
    snr_db: float = 0.0
    level_dbfs: float = -20.0
    floor_db: float = 40.0  # the pink noise floor, dB below the voice


def draw(rng: np.random.Generator, noise_count: int) -> Degradation:
    """A random degradation; with no noise recordings, none has noise."""

    def maybe(probability: float, bounds: tuple[float, float]) -> float:
        return round(float(rng.uniform(*bounds)), 3) if rng.random() < probability else 0.0

    rt60 = maybe(REVERB_PROBABILITY, RT60_S)
    high = maybe(BAND_PROBABILITY, HIGH_HZ)
    noisy = noise_count > 0 and rng.random() < NOISE_PROBABILITY
    return Degradation(
        rt60=rt60,
        drr_db=round(float(rng.uniform(*DRR_DB)), 2) if rt60 else 0.0,
        low_hz=round(float(rng.uniform(*LOW_HZ)), 1) if high else 0.0,
        high_hz=high,
        noise=int(rng.integers(noise_count)) if noisy else -1,
        noise_start=round(float(rng.random()), 4) if noisy else 0.0,
        snr_db=round(float(rng.uniform(*SNR_DB)), 2) if noisy else 0.0,
        level_dbfs=round(float(rng.uniform(*LEVEL_DBFS)), 2),
        floor_db=round(float(rng.uniform(*FLOOR_DB)), 2),
    )


def degrade(
    speech: np.ndarray,
    degradation: Degradation,
    length: int,
    start: int,
    noises: Sequence[np.ndarray],
    sample_rate: int,
    seed: int,
) -> np.ndarray:
    """`speech` (float) placed at `start` in `length` samples, through `degradation`: the
    room's reverberation on the voice, the noise at its SNR over the voice, a pink noise
    floor, the microphone's band, then the level of the voice (peaks kept under full scale)."""
    rng = np.random.default_rng(seed)
    voice = np.zeros(length, np.float64)
    wet = speech.astype(np.float64)
    if degradation.rt60:
        response = room_response(degradation.rt60, degradation.drr_db, sample_rate, rng)
        wet = _convolve(wet, response)
    voice[start : start + len(wet)] = wet[: length - start]
    spoken = slice(start, min(start + len(speech), length))
    signal = voice
    if degradation.noise >= 0:
        noise = _noise_piece(noises[degradation.noise], degradation.noise_start, length)
        voice_rms, noise_rms = _rms(voice[spoken]), _rms(noise)
        if noise_rms > 0 and voice_rms > 0:
            gain = voice_rms / noise_rms * 10 ** (-degradation.snr_db / 20)
            signal = voice + noise * gain
    floor = pink_noise(length, rng)
    voice_rms = _rms(voice[spoken])
    if voice_rms > 0:
        signal = signal + floor * (voice_rms * 10 ** (-degradation.floor_db / 20) / _rms(floor))
    if degradation.high_hz:
        signal = band_limit(signal, degradation.low_hz, degradation.high_hz, sample_rate)
    level = _rms(signal[spoken])
    if level == 0:
        return signal.astype(np.float32)
    gain = 10 ** (degradation.level_dbfs / 20) / level
    gain = min(gain, 10 ** (PEAK_DBFS / 20) / np.abs(signal).max())
    return (signal * gain).astype(np.float32)


def room_response(
    rt60: float, drr_db: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, then a tail of noise decaying by
    60 dB in `rt60` seconds (the statistical model of late reverberation), scaled to the
    direct-to-reverberant ratio `drr_db` and starting after a few ms of travel."""
    tail_length = int(rt60 * sample_rate)
    t = np.arange(tail_length) / sample_rate
    tail = rng.standard_normal(tail_length) * np.exp(-3 * math.log(10) * t / rt60)
    delay = int(rng.uniform(0.002, 0.012) * sample_rate)
    response = np.zeros(delay + tail_length)
    response[0] = 1.0
    tail *= math.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    response[delay:] += tail
    return response


def band_limit(samples: np.ndarray, low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    """Frequencies outside [low_hz, high_hz] removed, with raised-cosine edges an octave
    wide below and a third of an octave above (a microphone rolls off, it does not cut)."""
    spectrum = np.fft.rfft(samples)
    hz = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    gain = np.ones_like(hz)
    below = np.clip(np.log2(np.maximum(hz, 1e-3) / low_hz) + 1, 0, 1)  # 0 an octave under
    above = np.clip((np.log2(high_hz / np.maximum(hz, 1e-3)) * 3) + 1, 0, 1)
    gain *= 0.5 - 0.5 * np.cos(np.pi * below)
    gain *= 0.5 - 0.5 * np.cos(np.pi * above)
    return np.fft.irfft(spectrum * gain, n=len(samples))


def _convolve(samples: np.ndarray, response: np.ndarray) -> np.ndarray:
    size = len(samples) + len(response) - 1
    n = 1 << (size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(samples, n) * np.fft.rfft(response, n), n)[:size]


def _noise_piece(recording: np.ndarray, start: float, length: int) -> np.ndarray:
    """`length` samples of a noise recording from `start` (a fraction of it), looped when
    the recording is shorter."""
    offset = int(start * len(recording))
    repeats = math.ceil((offset + length) / len(recording))
    return np.tile(recording, repeats)[offset : offset + length].astype(np.float64)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
