"""The detector on synthetic score sequences: smoothing, thresholds, duration, refractory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gru_edge.config import DetectorConfig
from gru_edge.runtime.detector import Detector

LABELS = ("_silence_", "_unknown_", "yes", "no")
HOP, FRAME_END = 0.01, 0.025  # 10 ms hop, 25 ms window


def scores(frames: int, bumps: list[tuple[str, int, int, float]]) -> np.ndarray:
    """Silence everywhere, except `label` at `level` over frames [start, end)."""
    s = np.zeros((frames, len(LABELS)))
    s[:, 0] = 1.0
    for label, start, end, level in bumps:
        column = LABELS.index(label)
        s[start:end, :] = (1 - level) / (len(LABELS) - 1)
        s[start:end, column] = level
    return s


def detect(s, chunk=None, **config) -> list[tuple[str, float, float]]:
    detector = Detector(LABELS, DetectorConfig(**config))
    chunk = chunk or len(s)
    found = []
    for i in range(0, len(s), chunk):
        found += detector.process(s[i : i + chunk])
        found += detector.process(s[:0])  # what a runtime still buffering its chunk passes
    return [(d.keyword, round(d.time, 3), round(d.score, 3)) for d in found]


def test_a_word_fires_once_when_its_smoothed_score_has_held_long_enough():
    s = scores(300, [("yes", 100, 130, 0.9)])
    # smoothing 5 frames: the average reaches 0.6 at frame 103 (4 frames of 0.9 + one of 0);
    # it must then hold 3 frames (30 ms): frames 103, 104, 105 -> fires at frame 105.
    assert detect(s, smoothing_ms=50, threshold=0.6, min_duration_ms=30) == [
        ("yes", round(105 * HOP + FRAME_END, 3), 0.9)
    ]


def test_silence_and_unknown_never_fire():
    s = scores(300, [("_unknown_", 50, 150, 0.99)])
    assert detect(s) == []


def test_a_spike_shorter_than_the_smoothing_or_the_duration_does_not_fire():
    assert detect(scores(200, [("yes", 50, 52, 1.0)]), smoothing_ms=100, threshold=0.5) == []
    assert (
        detect(
            scores(200, [("yes", 50, 53, 1.0)]), smoothing_ms=10, threshold=0.5, min_duration_ms=50
        )
        == []
    )
    assert (
        len(
            detect(
                scores(200, [("yes", 50, 56, 1.0)]),
                smoothing_ms=10,
                threshold=0.5,
                min_duration_ms=50,
            )
        )
        == 1
    )


def test_the_refractory_period_merges_close_words_and_passes_later_ones():
    close = scores(600, [("yes", 100, 130, 0.9), ("no", 160, 190, 0.9)])
    assert [d[0] for d in detect(close, refractory_ms=1000)] == ["yes"]
    far = scores(600, [("yes", 100, 130, 0.9), ("no", 300, 330, 0.9)])
    assert [d[0] for d in detect(far, refractory_ms=1000)] == ["yes", "no"]
    held = scores(600, [("yes", 100, 400, 0.9)])  # held for 3 s: still one word, one event
    assert [d[0] for d in detect(held, refractory_ms=1000)] == ["yes"]
    again = scores(600, [("yes", 100, 130, 0.9), ("yes", 240, 270, 0.9)])  # said twice
    assert [d[0] for d in detect(again, refractory_ms=1000)] == ["yes", "yes"]


def test_thresholds_per_keyword_override_the_default():
    s = scores(600, [("yes", 100, 130, 0.8), ("no", 300, 330, 0.8)])
    detector = Detector(LABELS, DetectorConfig(threshold=0.6), thresholds={"yes": 0.9})
    assert [d.keyword for d in detector.process(s)] == ["no"]
    with pytest.raises(ValueError, match=r"\['maybe'\]"):
        Detector(LABELS, thresholds={"maybe": 0.5})


@settings(max_examples=30, deadline=None)
@given(chunk=st.integers(1, 120), seed=st.integers(0, 1000))
def test_the_chunking_of_the_scores_changes_nothing(chunk, seed):
    rng = np.random.default_rng(seed)
    bumps = [
        (
            str(rng.choice(["yes", "no"])),
            int(start),
            int(start + rng.integers(2, 40)),
            float(rng.uniform(0.4, 1.0)),
        )
        for start in sorted(rng.integers(0, 900, 6))
    ]
    s = scores(1000, bumps)
    config = dict(smoothing_ms=70, threshold=0.55, min_duration_ms=40, refractory_ms=300)
    assert detect(s, chunk, **config) == detect(s, None, **config)
