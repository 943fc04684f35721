"""Thresholds calibrated to a false-accept rate, per keyword, on validation audio.

A keyword's threshold is the lowest one at which its false accepts on the validation audio
(validation keywords inside held-out negative audio, then the held-out negative audio alone)
stay within its share of the target: `target_fa_per_hour` / number of keywords, so that all
keywords together stay within the target. The export writes them into the model's metadata,
so that a listener runs at a known operating point out of the box.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from gru_edge.config import Config, DetectorConfig, FeatureConfig
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.streams import (
    Occurrence,
    StreamFrames,
    match,
    negative_frames,
    settings_stream,
)
from gru_edge.modelfile import is_keyword
from gru_edge.negatives import NegativeAudio
from gru_edge.runtime.detector import Detector

logger = logging.getLogger(__name__)

# The candidates, finest near 1 where the thresholds of a good model land.
CANDIDATES = np.unique(
    np.round(np.concatenate([np.arange(0.3, 0.9, 0.02), np.arange(0.9, 0.999, 0.002)]), 4)
)
HIGHEST = 0.999


def calibrate(
    scores: np.ndarray,
    occurrences: list[Occurrence],
    marked: list[tuple[float, float]],
    labels: tuple[str, ...],
    features: FeatureConfig,
    hours: float,
    detector: DetectorConfig,
    target_fa_per_hour: float,
    tolerance: float = 1.0,
) -> dict:
    """{"thresholds": keyword -> threshold, and what they give on this audio}. A keyword
    whose false accepts exceed its share at every candidate gets HIGHEST."""
    keywords = [label for label in labels if is_keyword(label)]
    if not keywords:
        raise GruEdgeError(f"no keyword among the labels {list(labels)}: nothing to calibrate")
    allowed = target_fa_per_hour * hours / len(keywords)  # false accepts per keyword
    false_accepts = {}  # threshold -> {keyword: count}
    for threshold in CANDIDATES:
        config = dataclasses.replace(detector, threshold=float(threshold))
        found = Detector(labels, config, features).process(scores)
        _, false = match(found, occurrences, tolerance, marked)
        false_accepts[threshold] = {k: sum(d.keyword == k for d in false) for k in keywords}
    thresholds = {}
    for keyword in keywords:
        # the lowest threshold from which on every higher candidate stays within the share
        chosen = HIGHEST
        for threshold in CANDIDATES[::-1]:
            if false_accepts[threshold][keyword] > allowed:
                break
            chosen = float(threshold)
        thresholds[keyword] = chosen
    found = Detector(labels, detector, features, thresholds).process(scores)
    hits, false = match(found, occurrences, tolerance, marked)
    if len(false) / hours > target_fa_per_hour:  # keywords interact through the refractory
        logger.warning(
            "the calibrated thresholds give %.2f false accepts per hour on the validation "
            "audio, above the target %g",
            len(false) / hours,
            target_fa_per_hour,
        )
    return {
        "thresholds": thresholds,
        "target_fa_per_hour": target_fa_per_hour,
        "hours": hours,
        "fa_per_hour": len(false) / hours,
        "frr": 1 - len(hits) / len(occurrences) if occurrences else None,
    }


def calibration_audio(
    data_root: Path,
    config: Config,
    negatives: NegativeAudio | None,
    minutes: float,
    seed: int = 1,
) -> StreamFrames:
    """The validation audio thresholds are calibrated on: a stream of validation keyword and
    unknown-word clips over validation noise and negative audio, then (when there is negative
    audio) the validation negative audio alone, as one stream."""
    stream = settings_stream(data_root, config, minutes / 60, seed, "validation", negatives)
    if negatives is None:
        return stream
    alone = negative_frames(negatives, config.features, "validation")
    offset = len(stream.frames) * config.features.hop_ms / 1000
    return StreamFrames(
        np.concatenate([stream.frames, alone.frames]),
        stream.occurrences,
        stream.marked + [(start + offset, end + offset) for start, end in alone.marked],
        stream.hours + alone.hours,
    )
