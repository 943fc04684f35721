"""Augmentation: each transform does what it says, and the same seed gives the same clip."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from signals import peak_frequency, tone

from gru_edge.config import AugmentConfig
from gru_edge.training.augment import SpecAugment, augment_waveform

NOTHING = AugmentConfig(
    noise_probability=0.0, time_shift_ms=0.0, gain_db=(0.0, 0.0), speed=(1.0, 1.0)
)
NOISE = tf.constant(np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32))


def run(audio, config, seed=(1, 2)):
    return augment_waveform(
        tf.constant(audio), tf.constant(seed, tf.int64), NOISE, config, 16000
    ).numpy()


def test_the_same_seed_gives_the_same_clip_and_another_seed_another():
    clip = tone(440, 1.0, amplitude=0.3)
    config = AugmentConfig(noise_probability=1.0)
    np.testing.assert_array_equal(run(clip, config, (3, 4)), run(clip, config, (3, 4)))
    assert np.abs(run(clip, config, (3, 4)) - run(clip, config, (3, 5))).max() > 1e-3


def test_with_every_transform_off_the_clip_is_unchanged():
    clip = tone(440, 1.0, amplitude=0.3)
    np.testing.assert_allclose(run(clip, NOTHING), clip, atol=1e-6)


def test_time_shift_moves_the_clip_by_at_most_the_limit():
    impulse = np.zeros(16000, np.float32)
    impulse[8000] = 1.0
    config = AugmentConfig(
        noise_probability=0.0, gain_db=(0.0, 0.0), speed=(1.0, 1.0), time_shift_ms=100.0
    )
    moves = {int(np.argmax(run(impulse, config, (0, s)))) - 8000 for s in range(30)}
    assert max(abs(m) for m in moves) <= 1600 and len(moves) > 20


def test_gain_stays_in_its_range():
    clip = tone(440, 1.0, amplitude=0.1)
    config = AugmentConfig(
        noise_probability=0.0, time_shift_ms=0.0, speed=(1.0, 1.0), gain_db=(-6.0, 6.0)
    )
    for s in range(20):
        gain_db = 20 * np.log10(np.abs(run(clip, config, (0, s))).max() / 0.1)
        assert -6.01 <= gain_db <= 6.01


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_requested_snr(snr_db):
    clip = tone(440, 1.0, amplitude=0.1)
    config = AugmentConfig(
        noise_probability=1.0,
        snr_db=(snr_db, snr_db),
        time_shift_ms=0.0,
        gain_db=(0.0, 0.0),
        speed=(1.0, 1.0),
    )
    noise = run(clip, config) - clip
    measured = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean(noise**2))
    assert measured == pytest.approx(snr_db, abs=0.05)


def test_speed_perturbation_shifts_the_pitch_and_keeps_the_length():
    clip = tone(1000, 1.0, amplitude=0.3)
    config = AugmentConfig(
        noise_probability=0.0, time_shift_ms=0.0, gain_db=(0.0, 0.0), speed=(1.1, 1.1)
    )
    faster = run(clip, config)
    assert len(faster) == 16000
    assert peak_frequency(faster[2000:12000], 16000) == pytest.approx(1100, abs=5)


def test_spec_augment_masks_bands_in_training_only():
    features = tf.ones((8, 98, 40))
    layer = SpecAugment(time_masks=2, time_mask_frames=10, freq_masks=2, freq_mask_bins=5, seed=3)
    np.testing.assert_array_equal(layer(features, training=False), features)
    masked = layer(features, training=True).numpy() == 0
    time_masked = masked.all(axis=2).sum(axis=1)  # whole frames zeroed, per example
    freq_masked = masked.all(axis=1).sum(axis=1)  # whole bins zeroed, per example
    assert time_masked.max() <= 20 and freq_masked.max() <= 10
    assert time_masked.sum() > 0 and freq_masked.sum() > 0
    again = SpecAugment(2, 10, 2, 5, seed=3)(features, training=True).numpy() == 0
    np.testing.assert_array_equal(masked, again)
