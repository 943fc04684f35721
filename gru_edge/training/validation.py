"""Model selection on streams: after every epoch of the stream recipe, the model is scored on
the validation clips (clip accuracy) and on a validation stream (validation keyword clips
inside held-out negative audio), and the checkpoint that finds the most keywords at a fixed
false-accept rate is kept, not the one with the best clip accuracy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from gru_edge.audio import int16_to_float
from gru_edge.config import Config
from gru_edge.datasets import Dataset
from gru_edge.evaluation.streams import Occurrence, settings_stream, sweep
from gru_edge.features import log_mel
from gru_edge.negatives import NegativeAudio
from gru_edge.training.model import Mode, convert

logger = logging.getLogger(__name__)

MONITOR = "val_stream_recall"
PIECE_FRAMES = 6000  # the stream is scored in pieces of a minute, as one batch


@dataclass
class ValidationStream:
    """The log-mel frames of a validation stream, cut into pieces of PIECE_FRAMES, and what
    is in it."""

    pieces: np.ndarray  # (pieces, PIECE_FRAMES, bins)
    occurrences: list[Occurrence]
    marked: list[tuple[float, float]]
    hours: float


def validation_stream(
    data_root: Path, config: Config, negatives: NegativeAudio | None, seed: int = 1
) -> ValidationStream:
    """Validation keyword and unknown-word clips over the validation negatives and noise."""
    hours = config.sequences.validation_minutes / 60
    stream = settings_stream(data_root, config, hours, seed, "validation", negatives)
    count = max(1, len(stream.frames) // PIECE_FRAMES)
    pieces = stream.frames[: count * PIECE_FRAMES].reshape(count, -1, stream.frames.shape[1])
    scored_hours = pieces.shape[0] * pieces.shape[1] * config.features.hop_ms / 3.6e6
    end = scored_hours * 3600
    return ValidationStream(
        pieces, [o for o in stream.occurrences if o.word_end < end], stream.marked, scored_hours
    )


class StreamValidation(keras.callbacks.Callback):
    """Adds `val_accuracy` (validation clips, last frame) and `val_stream_recall` (1 - FRR at
    `fa_per_hour` on the validation stream) to the epoch's logs, before the checkpoint and
    early stopping read them."""

    def __init__(
        self, config: Config, labels: tuple[str, ...], dataset: Dataset, stream: ValidationStream
    ) -> None:
        super().__init__()
        self.config, self.labels, self.stream = config, labels, stream
        clips = dataset.clips["validation"]
        self.clip_features = np.stack(
            [log_mel(int16_to_float(a), config.features) for a in clips.audio]
        )
        self.clip_labels = clips.labels

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        config = self.config
        sequence = convert(
            self.model, len(self.labels), config.features, config.model, Mode.SEQUENCE
        )
        clip_scores = sequence.predict(self.clip_features, batch_size=256, verbose=0)[:, -1]
        logs["val_accuracy"] = float(np.mean(clip_scores.argmax(axis=1) == self.clip_labels))
        scores = sequence.predict(self.stream.pieces, batch_size=64, verbose=0)
        limit = config.sequences.select_fa_per_hour
        result = sweep(
            scores.reshape(-1, len(self.labels)),
            self.stream.occurrences,
            self.labels,
            config.features,
            self.stream.hours,
            config.detector,
            marked=self.stream.marked,
            fa_per_hour=limit,
        )
        best = result["frr_at_fa_per_hour"]["overall"]
        logs[MONITOR] = 1.0 - best["frr"] if best else 0.0
        logger.info(
            "epoch %d: validation clips %.4f, stream recall %.4f at <= %g FA/h",
            epoch + 1,
            logs["val_accuracy"],
            logs[MONITOR],
            limit,
        )
