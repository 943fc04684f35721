"""The log-mel front end: chunk-size invariance, its content, and parity with TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import tone

from gru_edge.config import FeatureConfig
from gru_edge.features import (
    FeatureExtractor,
    hertz_to_mel,
    log_mel,
    mel_weight_matrix,
    num_frames,
    periodic_hann,
)
from gru_edge.training import frontend


def stream(signal: np.ndarray, sizes: list[int], config: FeatureConfig | None = None):
    """Feeds `signal` in pieces of the given sizes (cycled); returns all frames."""
    extractor = FeatureExtractor(config)
    frames, start, i = [extractor.accept(np.zeros(0))], 0, 0
    while start < len(signal):
        frames.append(extractor.accept(signal[start : start + sizes[i % len(sizes)]]))
        start += sizes[i % len(sizes)]
        i += 1
    return np.concatenate(frames)


@pytest.mark.parametrize("size", [1, 7, 159, 160, 161, 333, 401, 1000, 1600, 16000, 99999])
def test_any_chunk_size_yields_exactly_the_whole_signal_frames(speech, size):
    whole = log_mel(speech)
    assert whole.shape == (num_frames(len(speech), FeatureConfig()), 40)
    np.testing.assert_array_equal(stream(speech, [size]), whole)


def test_long_signals_are_computed_in_batches_with_the_same_frames():
    signal = np.random.default_rng(1).normal(0, 0.1, 7 * 16000)  # 698 frames, > 2 batches
    whole = log_mel(signal)
    assert len(whole) == 698 > 2 * FeatureExtractor.BATCH_FRAMES
    np.testing.assert_array_equal(stream(signal, [1600]), whole)
    np.testing.assert_array_equal(stream(signal, [160]), whole)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 2000), min_size=1, max_size=20).filter(any),
    length=st.integers(0, 6000),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_chunkings_yield_the_whole_signal_frames(sizes, length, seed):
    signal = np.random.default_rng(seed).normal(0, 0.1, length).astype(np.float32)
    np.testing.assert_array_equal(stream(signal, sizes), log_mel(signal))


def test_at_least_n_frames_or_none_and_the_same_frames_in_the_end(speech):
    whole = log_mel(speech[:16000])
    extractor = FeatureExtractor()
    pieces = [
        extractor.accept(speech[start : start + 100], at_least=5) for start in range(0, 16000, 100)
    ]
    assert all(len(piece) == 0 or len(piece) >= 5 for piece in pieces)
    assert sum(len(piece) > 0 for piece in pieces) < 30  # 98 frames, in pieces of 5 or 6
    np.testing.assert_array_equal(np.concatenate(pieces), whole[: sum(map(len, pieces))])


def test_frames_need_a_whole_window_and_reset_forgets_pending_samples():
    config = FeatureConfig()
    assert num_frames(399, config) == 0 and num_frames(400, config) == 1
    assert num_frames(16000, config) == 98  # one second: 1 + (16000 - 400) // 160
    extractor = FeatureExtractor(config)
    assert extractor.accept(np.ones(399)).shape == (0, 40)
    extractor.reset()
    assert extractor.accept(np.ones(399)).shape == (0, 40)
    assert extractor.accept(np.ones(1)).shape == (1, 40)


def test_a_tone_lights_the_mel_bin_around_its_frequency():
    frames = log_mel(tone(1000, 0.5))
    edges = np.linspace(hertz_to_mel(20), hertz_to_mel(7600), 42)
    nearest = int(np.argmin(np.abs(edges[1:-1] - hertz_to_mel(1000))))
    assert set(np.argmax(frames, axis=1)) == {nearest}
    silence = log_mel(np.zeros(1600))
    np.testing.assert_allclose(silence, np.log(1e-6), rtol=1e-6)


def test_settings_change_the_shape():
    config = FeatureConfig(window_ms=30, hop_ms=20, fft_length=1024, num_mel_bins=64)
    assert log_mel(np.zeros(16000), config).shape == (1 + (16000 - 480) // 320, 64)


@pytest.mark.parametrize("dtype, tolerance", [(tf.float32, 1e-5), (tf.float64, 1e-10)])
def test_mel_matrix_matches_tensorflow(dtype, tolerance):
    config = FeatureConfig()
    reference = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=config.num_mel_bins,
        num_spectrogram_bins=config.num_fft_bins,
        sample_rate=config.sample_rate,
        lower_edge_hertz=config.lower_edge_hz,
        upper_edge_hertz=config.upper_edge_hz,
        dtype=dtype,
    )
    np.testing.assert_allclose(mel_weight_matrix(config), reference.numpy(), rtol=0, atol=tolerance)


def test_window_matches_tensorflow():
    np.testing.assert_allclose(
        periodic_hann(400), tf.signal.hann_window(400, periodic=True, dtype=tf.float64), atol=1e-15
    )


def test_tensorflow_twin_matches_numpy_on_speech(speech):
    expected = log_mel(speech)
    twin = frontend.log_mel(tf.constant(speech)).numpy()
    assert twin.shape == expected.shape and twin.dtype == np.float32
    assert np.abs(twin - expected).max() <= 1e-5
    # Batched, as the input pipeline calls it.
    batch = np.stack([speech[:16000], speech[16000:32000]])
    twin_batch = frontend.log_mel(tf.constant(batch)).numpy()
    for signal, frames in zip(batch, twin_batch, strict=True):
        assert np.abs(frames - log_mel(signal)).max() <= 1e-5
