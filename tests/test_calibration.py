"""Thresholds calibrated to a false-accept rate, and the model file that carries them."""

from __future__ import annotations

import numpy as np
import pytest

from gru_edge.config import DetectorConfig, FeatureConfig
from gru_edge.evaluation.calibration import HIGHEST, calibrate
from gru_edge.evaluation.streams import Occurrence

LABELS = ("_silence_", "_unknown_", "yes", "no")
DETECTOR = DetectorConfig(smoothing_ms=10.0, min_duration_ms=10.0, refractory_ms=500.0)


def _scores(seconds: float, peaks: list[tuple[str, float, float]]) -> np.ndarray:
    """Frames of silence with a keyword's score at `level` for 0.2 s from each `time`."""
    scores = np.zeros((int(seconds * 100), len(LABELS)))
    scores[:, 0] = 1.0
    for keyword, time, level in peaks:
        frames = slice(int(time * 100), int(time * 100) + 20)
        scores[frames, LABELS.index(keyword)] = level
        scores[frames, 0] = 1 - level
    return scores


def test_each_keyword_gets_the_lowest_threshold_within_its_share():
    # six minutes: "yes" heard at 0.97 where it is said, falsely at 0.813 and 0.913
    # elsewhere; "no" heard at 0.95, falsely at 0.613 once
    peaks = [("yes", 10, 0.97), ("yes", 100, 0.813), ("yes", 200, 0.913), ("no", 50, 0.95)]
    peaks += [("no", 300, 0.613)]
    occurrences = [Occurrence("yes", 9.5, 9.9), Occurrence("no", 49.5, 49.9)]
    scores = _scores(360, peaks)
    result = calibrate(scores, occurrences, [], LABELS, FeatureConfig(), 0.1, DETECTOR, 20.0)
    # 20 FA/h shared by 2 keywords over 0.1 h: one false accept each is allowed
    assert 0.813 < result["thresholds"]["yes"] <= 0.913 and result["thresholds"]["no"] <= 0.613
    assert result["fa_per_hour"] == pytest.approx(20) and result["frr"] == 0
    strict = calibrate(scores, occurrences, [], LABELS, FeatureConfig(), 0.1, DETECTOR, 5.0)
    assert 0.913 < strict["thresholds"]["yes"] <= 0.97
    assert 0.613 < strict["thresholds"]["no"] <= 0.95
    assert strict["fa_per_hour"] == 0 and strict["frr"] == 0


def test_a_keyword_that_fires_everywhere_gets_the_highest_threshold():
    peaks = [("yes", t, 1.0) for t in range(10, 360, 30)]
    result = calibrate(_scores(360, peaks), [], [], LABELS, FeatureConfig(), 0.1, DETECTOR, 5.0)
    assert result["thresholds"]["yes"] == HIGHEST and result["frr"] is None


def test_detections_inside_marked_spans_do_not_count():
    peaks = [("yes", 100, 0.9)]
    marked = [(99.8, 100.1)]  # a real "yes" inside the negative audio
    result = calibrate(_scores(360, peaks), [], marked, LABELS, FeatureConfig(), 0.1, DETECTOR, 5.0)
    assert result["thresholds"]["yes"] == pytest.approx(0.3)
