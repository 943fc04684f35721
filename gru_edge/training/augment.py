"""Training-time augmentation, seeded so that a run (and a resumed run) sees the same data.

On the waveform, in the tf.data pipeline: speed perturbation, time shift, gain, and background
noise mixed at a random SNR. On the features, inside the model (so that a GPU does it):
SpecAugment time and frequency masks. The waveform's random draws come from stateless ops
keyed by an explicit seed; SpecAugment's from a seed generator whose state the checkpoint
saves, so that a resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gru_edge.config import AugmentConfig


def augment_waveform(
    audio: tf.Tensor,
    seed: tf.Tensor,
    noise_bank: tf.Tensor,
    config: AugmentConfig,
    sample_rate: int,
) -> tf.Tensor:
    """One clip (samples,) float32 in [-1, 1] -> the same length, augmented; `seed` shape (2,)."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=6))
    length = tf.shape(audio)[0]

    def uniform(seed_pair, bounds):
        return tf.random.stateless_uniform([], seed_pair, bounds[0], bounds[1] + 1e-9)

    if config.speed[0] != 1.0 or config.speed[1] != 1.0:
        factor = uniform(seeds[0], config.speed)
        new_length = tf.cast(tf.round(tf.cast(length, tf.float32) / factor), tf.int32)
        # Linear interpolation: at +-10 % the aliasing an anti-aliasing filter would remove lies
        # above 7.2 kHz, near the top mel band, and the filter costs 8x the time.
        stretched = tf.image.resize(audio[:, None, None], [new_length, 1], antialias=False)
        audio = _center(stretched[:, 0, 0], length)

    max_shift = round(config.time_shift_ms * sample_rate / 1000)
    if max_shift:
        shift = tf.random.stateless_uniform([], seeds[1], -max_shift, max_shift + 1, tf.int32)
        padded = tf.pad(audio, [[max_shift, max_shift]])
        audio = padded[max_shift - shift : max_shift - shift + length]

    audio = audio * 10.0 ** (uniform(seeds[2], config.gain_db) / 20.0)

    if config.noise_probability > 0:
        start = tf.random.stateless_uniform(
            [], seeds[3], 0, tf.shape(noise_bank, out_type=tf.int32)[0] - length + 1, tf.int32
        )
        noise = noise_bank[start : start + length]
        snr_db = uniform(seeds[4], config.snr_db)
        speech_rms = tf.sqrt(tf.reduce_mean(audio**2))
        noise_rms = tf.sqrt(tf.reduce_mean(noise**2)) + 1e-9
        scale = speech_rms / noise_rms * 10.0 ** (-snr_db / 20.0)
        mixed = tf.random.stateless_uniform([], seeds[5]) < config.noise_probability
        audio = audio + tf.cast(mixed, tf.float32) * scale * noise

    return tf.clip_by_value(audio, -1.0, 1.0)  # as a 16-bit microphone would saturate


def _center(audio: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """Crops the middle of a longer signal or pads a shorter one evenly on both sides."""
    excess = tf.shape(audio)[0] - length
    cropped = audio[tf.maximum(excess, 0) // 2 :][:length]
    missing = length - tf.shape(cropped)[0]
    return tf.pad(cropped, [[missing // 2, missing - missing // 2]])


@keras.saving.register_keras_serializable(package="gru_edge")
class SpecAugment(keras.layers.Layer):
    """Time and frequency masks on normalized features (masked values become 0, the mean);
    active only in training."""

    def __init__(
        self,
        time_masks: int = 2,
        time_mask_frames: int = 10,
        freq_masks: int = 2,
        freq_mask_bins: int = 5,
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.time_masks, self.time_mask_frames = time_masks, time_mask_frames
        self.freq_masks, self.freq_mask_bins = freq_masks, freq_mask_bins
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, features, training=False):
        if not training:
            return features
        shape = keras.ops.shape(features)
        in_time = self._masks(shape[0], shape[1], self.time_masks, self.time_mask_frames)
        in_freq = self._masks(shape[0], shape[2], self.freq_masks, self.freq_mask_bins)
        masked = keras.ops.logical_or(in_time[:, :, None], in_freq[:, None, :])
        return keras.ops.where(masked, keras.ops.zeros_like(features), features)

    def _masks(self, batch, size, count: int, max_width: int):
        """(batch, size) booleans: `count` bands of width 0..max_width at random places."""
        positions = keras.ops.arange(size)[None, :]
        covered = keras.ops.zeros((batch, size), dtype="bool")
        for _ in range(count):
            width = keras.ops.floor(
                keras.random.uniform((batch, 1), 0, max_width + 1, seed=self.seed_generator)
            )
            room = keras.ops.cast(size, "float32") - width + 1
            start = keras.ops.floor(
                keras.random.uniform((batch, 1), seed=self.seed_generator) * room
            )
            position = keras.ops.cast(positions, "float32")
            band = keras.ops.logical_and(position >= start, position < start + width)
            covered = keras.ops.logical_or(covered, band)
        return covered

    def save_own_variables(self, store):
        """The random state goes into the checkpoint with the weights: Keras saves no
        SeedGenerator state, so a resumed run would draw the masks of the first epochs again
        instead of the ones the uninterrupted run draws next."""
        store["seed_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_state" in store:  # a model saved before the state was saved starts afresh
            self.seed_generator.state.assign(store["seed_state"])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_mask_frames": self.time_mask_frames,
            "freq_masks": self.freq_masks,
            "freq_mask_bins": self.freq_mask_bins,
            "seed": self.seed,
        }
