"""tf.data input pipelines: decoded clips in memory -> augmented waveform batches (the clip
recipe), or the stream recipe's sequences with their frame targets.

The training stream is a pure function of (seed, epoch): each epoch shuffles with a stateless
permutation and augments each clip with a seed made of the epoch and the clip's position, so
a run resumed at epoch k sees exactly what an uninterrupted run would have seen. Features are
computed inside the model (the TF twin of the front end), on the GPU when there is one.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from gru_edge.audio import INT16_SCALE
from gru_edge.config import AugmentConfig
from gru_edge.datasets import Clips
from gru_edge.training.augment import augment_waveform
from gru_edge.training.sequences import SequenceMaker


def training_batches(
    clips: Clips,
    noise: list[np.ndarray],
    num_classes: int,
    augment: AugmentConfig,
    batch_size: int,
    seed: int,
    sample_rate: int,
    first_epoch: int,
    epochs: int,
) -> tuple[tf.data.Dataset, int]:
    """Augmented (waveforms, one-hot labels) batches for epochs first_epoch..epochs-1, and the
    number of batches per epoch (the last batch of an epoch may be short)."""
    count = len(clips)
    audio = tf.constant(clips.audio)
    labels = tf.one_hot(clips.labels, num_classes)
    noise_bank = tf.constant(np.concatenate(noise).astype(np.float32))

    context = round(augment.context_ms * sample_rate / 1000)

    def augmented(stream, epoch, position):
        """Clip number `position` of this epoch's permutation `stream`, augmented."""
        stream_seed = tf.constant(seed, tf.int64) + 1_000_003 * stream
        index = tf.random.experimental.index_shuffle(
            position, seed=tf.stack([stream_seed, epoch]), max_index=count - 1
        )
        waveform = tf.cast(tf.gather(audio, index), tf.float32) / INT16_SCALE
        example_seed = tf.stack([stream_seed, epoch * count + position])
        return augment_waveform(waveform, example_seed, noise_bank, augment, sample_rate), index

    def example(epoch, position):
        waveform, index = augmented(0, epoch, position)
        if context:
            # The end of another clip, 0 to `context` samples of it, leads into this one, so
            # the GRU learns to classify from wherever the previous audio left its state.
            previous, _ = augmented(1, epoch, position)
            length = tf.random.stateless_uniform(
                [],
                tf.stack([tf.constant(seed, tf.int64) + 2, epoch * count + position]),
                0,
                context + 1,
                tf.int32,
            )
            lead = tf.pad(previous[tf.shape(previous)[0] - length :], [[context - length, 0]])
            waveform = tf.concat([lead, waveform], axis=0)
        return waveform, tf.gather(labels, index)

    def epoch_batches(epoch):
        positions = tf.data.Dataset.range(count)
        examples = positions.map(lambda p: example(epoch, p), num_parallel_calls=tf.data.AUTOTUNE)
        return examples.batch(batch_size)

    epochs_ds = tf.data.Dataset.range(first_epoch, epochs)
    dataset = epochs_ds.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)
    return dataset, math.ceil(count / batch_size)


def evaluation_batches(clips: Clips, num_classes: int, batch_size: int) -> tf.data.Dataset:
    """The clips as they are (no augmentation), (waveforms, one-hot labels)."""
    dataset = tf.data.Dataset.from_tensor_slices((clips.audio, clips.labels))
    dataset = dataset.map(
        lambda a, y: (tf.cast(a, tf.float32) / INT16_SCALE, tf.one_hot(y, num_classes))
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def sequence_batches(
    maker: SequenceMaker, first_epoch: int, epochs: int, steps: int
) -> tf.data.Dataset:
    """(waveforms, frame targets) batches of epochs first_epoch..epochs-1: batch number i
    is `maker.batch(i)`, made in numpy on two threads while the model trains."""

    def make(index):
        audio, targets = tf.numpy_function(
            maker.batch, [index], [tf.float32, tf.int32], stateful=False
        )
        audio.set_shape([maker.batch_size, maker.length])
        targets.set_shape([maker.batch_size, maker.frames, 3])
        return audio, targets

    numbers = tf.data.Dataset.range(first_epoch * steps, epochs * steps)
    return numbers.map(make, num_parallel_calls=2, deterministic=True).prefetch(4)
