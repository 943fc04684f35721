"""The stream recipe's loss over per-frame targets (gru_edge.training.sequences).

For every sequence: `negative_weight` times the mean over its NEGATIVE frames of
-log P(any non-keyword class) (or over the hardest `negative_top_fraction` of its frames: a
few frames that fire are what a false accept is, and the mean over all dilutes them), plus,
summed over its events, the cross-entropy (with label smoothing) of each CLASS frame and, for
each keyword WINDOW, -log of the keyword's best probability inside the window: the
max-pooling loss of Sun et al. (2016), which asks one frame near the end of the word to fire
and leaves the model free to choose which.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from gru_edge.training.sequences import CLASS, NEGATIVE, WINDOW

_FLOOR = -1e9  # stands for log(0) where a frame is outside a window (inf would poison grads)


@keras.saving.register_keras_serializable(package="gru_edge")
class StreamLoss(keras.losses.Loss):
    """y_true: (batch, frames, 3) int targets (kind, label, window id); y_pred: logits
    (batch, frames, classes). `negative_classes`: the indices of the non-keyword classes."""

    def __init__(
        self,
        negative_classes: list[int],
        max_windows: int,
        label_smoothing: float = 0.1,
        negative_weight: float = 1.0,
        negative_top_fraction: float = 1.0,
        name: str = "stream_loss",
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.negative_classes = list(negative_classes)
        self.max_windows = int(max_windows)
        self.label_smoothing = float(label_smoothing)
        self.negative_weight = float(negative_weight)
        self.negative_top_fraction = float(negative_top_fraction)

    def call(self, y_true, y_pred):
        targets = tf.cast(y_true, tf.int32)
        kind, label, window = targets[..., 0], targets[..., 1], targets[..., 2]
        log_p = tf.nn.log_softmax(tf.cast(y_pred, tf.float32))
        chosen = tf.gather(log_p, label, batch_dims=2)  # log P(target label), (batch, frames)

        negative = tf.reduce_logsumexp(tf.gather(log_p, self.negative_classes, axis=-1), -1)
        is_negative = tf.cast(kind == NEGATIVE, tf.float32)
        frame_losses = -negative * is_negative  # >= 0; 0 on the other frames
        count = tf.reduce_sum(is_negative, 1)
        if self.negative_top_fraction < 1.0:
            frames = tf.cast(tf.shape(frame_losses)[1], tf.float32)
            k = tf.maximum(1, tf.cast(tf.math.ceil(self.negative_top_fraction * frames), tf.int32))
            frame_losses = tf.math.top_k(frame_losses, k).values
            count = tf.minimum(count, tf.cast(k, tf.float32))
        negative_loss = tf.reduce_sum(frame_losses, 1) / tf.maximum(count, 1.0)

        smoothing = self.label_smoothing
        cross_entropy = -((1 - smoothing) * chosen + smoothing * tf.reduce_mean(log_p, -1))
        class_loss = tf.reduce_sum(cross_entropy * tf.cast(kind == CLASS, tf.float32), 1)

        numbers = tf.range(1, self.max_windows + 1)
        inside = (kind == WINDOW)[..., None] & (window[..., None] == numbers)  # (b, f, w)
        best = tf.reduce_max(tf.where(inside, chosen[..., None], _FLOOR), axis=1)
        present = tf.reduce_any(inside, axis=1)
        window_loss = tf.reduce_sum(tf.where(present, -best, 0.0), 1)

        return self.negative_weight * negative_loss + class_loss + window_loss

    def get_config(self) -> dict:
        own = (
            "negative_classes",
            "max_windows",
            "label_smoothing",
            "negative_weight",
            "negative_top_fraction",
        )
        return {**super().get_config(), **{key: getattr(self, key) for key in own}}
