"""tf.data input pipelines: decoded clips in memory -> augmented waveform batches.

The training stream is a pure function of (seed, epoch): each epoch shuffles with a stateless
permutation and augments each clip with a seed made of the epoch and the clip's position, so
a run resumed at epoch k sees exactly what an uninterrupted run would have seen. Features are
computed inside the model (the TF twin of the front end), on the GPU when there is one.

The model scores every frame, as it does on a stream, and each example says which frames the
loss looks at (per-frame labels and weights): a keyword is only known once it has been heard,
so a keyword clip teaches its last frame; silence and unknown speech are never a keyword, so
every frame of them teaches the model to say so, which is what keeps false accepts down on a
stream. Each clip weighs 1 in all, however many frames carry it.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from gru_edge.config import AugmentConfig, FeatureConfig
from gru_edge.features import num_frames
from gru_edge.training.augment import augment_waveform
from gru_edge.training.data import Clips


def training_batches(
    clips: Clips,
    noise: list[np.ndarray],
    num_classes: int,
    augment: AugmentConfig,
    batch_size: int,
    seed: int,
    features: FeatureConfig,
    first_epoch: int,
    epochs: int,
) -> tuple[tf.data.Dataset, int]:
    """Augmented (waveforms, per-frame one-hot labels, per-frame loss weights) batches for
    epochs first_epoch..epochs-1, and the number of batches per epoch (the last batch of an
    epoch may be short)."""
    sample_rate = features.sample_rate
    count = len(clips)
    audio = tf.constant(clips.audio)
    labels = tf.constant(clips.labels)
    noise_bank = tf.constant(np.concatenate(noise).astype(np.float32))

    context = round(augment.context_ms * sample_rate / 1000)
    clip_length = clips.audio.shape[1]
    frames = num_frames(context + clip_length, features)
    first_target = -(-context // features.hop_samples)  # the first frame inside the clip

    def augmented(stream, epoch, position):
        """Clip number `position` of this epoch's permutation `stream`, augmented."""
        stream_seed = tf.constant(seed, tf.int64) + 1_000_003 * stream
        index = tf.random.experimental.index_shuffle(
            position, seed=tf.stack([stream_seed, epoch]), max_index=count - 1
        )
        waveform = tf.cast(tf.gather(audio, index), tf.float32) / 32768.0
        example_seed = tf.stack([stream_seed, epoch * count + position])
        return augment_waveform(waveform, example_seed, noise_bank, augment, sample_rate), index

    def example(epoch, position):
        waveform, index = augmented(0, epoch, position)
        label = tf.gather(labels, index)
        weights = _frame_weights(label, first_target, frames, frames)
        if context:
            # The end of another clip, 0 to `context` samples of it, leads into this one, so
            # the GRU learns to classify from wherever the previous audio left its state.
            previous, previous_index = augmented(1, epoch, position)
            length = tf.random.stateless_uniform(
                [],
                tf.stack([tf.constant(seed, tf.int64) + 2, epoch * count + position]),
                0,
                context + 1,
                tf.int32,
            )
            lead = tf.pad(previous[tf.shape(previous)[0] - length :], [[context - length, 0]])
            waveform = tf.concat([lead, waveform], axis=0)
            # Frames wholly inside the lead teach its label, if it is silence or unknown.
            lead_first = -(-(context - length) // features.hop_samples)
            lead_end = (context - features.window_samples) // features.hop_samples + 1
            previous_label = tf.gather(labels, previous_index)
            lead_weights = _frame_weights(
                previous_label, lead_first, lead_end, frames, keyword_last_frame=False
            )
            targets = tf.where(lead_weights > 0, previous_label, label)
            weights = weights + lead_weights
        else:
            targets = tf.fill([frames], label)
        return waveform, tf.one_hot(targets, num_classes), weights

    def epoch_batches(epoch):
        positions = tf.data.Dataset.range(count)
        examples = positions.map(lambda p: example(epoch, p), num_parallel_calls=tf.data.AUTOTUNE)
        return examples.batch(batch_size)

    epochs_ds = tf.data.Dataset.range(first_epoch, epochs)
    dataset = epochs_ds.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)
    return dataset, math.ceil(count / batch_size)


def _frame_weights(label, first, end, frames: int, keyword_last_frame: bool = True):
    """Per-frame loss weights of one clip occupying frames [first, end): all of them for
    silence and unknown (labels 0 and 1), the last one for a keyword (or none, when asked);
    they sum to 1 unless empty."""
    positions = tf.range(frames)
    inside = tf.cast((positions >= first) & (positions < end), tf.float32)
    negative = tf.cast(label < 2, tf.float32)
    last = tf.cast(positions == end - 1, tf.float32) if keyword_last_frame else 0.0 * inside
    spread = inside / tf.maximum(tf.reduce_sum(inside), 1.0)
    return negative * spread + (1.0 - negative) * last


def evaluation_batches(
    clips: Clips, num_classes: int, batch_size: int, features: FeatureConfig
) -> tf.data.Dataset:
    """The clips as they are (no augmentation), cached: (waveforms, one-hot labels for every
    frame, weights on the last frame only): the weighted accuracy is the clip accuracy."""
    frames = num_frames(clips.audio.shape[1], features)
    last_only = tf.one_hot(frames - 1, frames)
    dataset = tf.data.Dataset.from_tensor_slices((clips.audio, clips.labels))
    dataset = dataset.map(
        lambda a, y: (
            tf.cast(a, tf.float32) / 32768.0,
            tf.one_hot(tf.fill([frames], y), num_classes),
            last_only,
        )
    )
    return dataset.batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
