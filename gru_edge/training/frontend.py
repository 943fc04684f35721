"""The TensorFlow twin of `gru_edge.features`, so that the input pipeline (and a GPU) computes
the features. It reuses the numpy mel matrix and window definition; a test holds its output
equal to the numpy front end to 1e-5. Like the numpy version it computes in float64.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import tensorflow as tf

from gru_edge.config import FeatureConfig
from gru_edge.features import mel_weight_matrix, num_frames


def log_mel(signals: tf.Tensor, config: FeatureConfig | None = None) -> tf.Tensor:
    """Log-mel frames of signals shaped (..., samples): float32 (..., frames, num_mel_bins)."""
    config = config or FeatureConfig()
    spectrum = tf.signal.stft(
        tf.cast(signals, tf.float64),
        frame_length=config.window_samples,
        frame_step=config.hop_samples,
        fft_length=config.fft_length,
        window_fn=functools.partial(tf.signal.hann_window, periodic=True),
        pad_end=False,
    )
    power = tf.math.real(spectrum) ** 2 + tf.math.imag(spectrum) ** 2
    mel = tf.tensordot(power, tf.constant(mel_weight_matrix(config), dtype=tf.float64), axes=1)
    return tf.cast(tf.math.log(mel + config.log_floor), tf.float32)


@keras.saving.register_keras_serializable(package="gru_edge")
class LogMelFrontEnd(keras.layers.Layer):
    """The front end as the first layer of the training model, so that it runs where the
    model runs (a GPU when there is one): waveforms (batch, samples) in, log-mel frames out."""

    def __init__(self, features: dict | None = None, **kwargs) -> None:
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        self.features = FeatureConfig(**(features or {}))

    def call(self, waveforms: tf.Tensor) -> tf.Tensor:
        return log_mel(waveforms, self.features)

    def compute_output_shape(self, input_shape):
        frames = None
        if input_shape[-1] is not None:
            frames = num_frames(input_shape[-1], self.features)
        return (*input_shape[:-1], frames, self.features.num_mel_bins)

    def get_config(self) -> dict:
        return {**super().get_config(), "features": dataclasses.asdict(self.features)}
