"""From frame scores to keyword events: smoothing, threshold, minimum duration, refractory.

Each keyword's score is averaged over the last `smoothing_ms`; a keyword fires once its
smoothed score has stayed at or above its threshold for `min_duration_ms`. After any detection
nothing fires for `refractory_ms`, and the keyword that fired only fires again once its score
has fallen below its threshold: one spoken word, one event, however long the model holds it.
Silence and unknown (labels starting with "_") never fire. The work is vectorized over a chunk
of frames; the per-frame logic only runs for frames where some keyword is above its threshold.

Scores are probabilities: a NaN, an infinity or a value outside [0, 1] raises `ScoreError`
before the detector's state changes (it comes from a broken model, and would otherwise turn
into silently missed keywords).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gru_edge.config import DetectorConfig, FeatureConfig
from gru_edge.errors import GruEdgeError
from gru_edge.modelfile import is_keyword

# The moving average sums scores rounded to a grid of 2**-32, as whole numbers of ticks held in
# float64 (exact below 2**53): the sums are exact, so a frame's smoothed score is the same
# however the stream was cut into chunks. (Sums of the raw floats round differently with the
# chunk's length, which flips the decision wherever a smoothed score ties its threshold, as
# int8 scores, multiples of 1/256, easily do.)
_GRID = 2.0**32


# Up to this many frames a call, the windows are summed by a matmul (its matrix grows with the
# square of the frames); longer pieces, such as a whole file, by cumulative sums.
MATMUL_FRAMES = 64


@functools.cache
def _window_sums(window: int) -> np.ndarray:
    """(MATMUL_FRAMES, MATMUL_FRAMES + window - 1), shared read-only by every detector: row i
    sums the window of `window` frames that ends with frame i; its top-left (n, n + window - 1)
    block does so for n frames. Its products and sums are of whole numbers below 2**53, so
    exact in any order."""
    offsets = np.arange(MATMUL_FRAMES + window - 1) - np.arange(MATMUL_FRAMES)[:, np.newaxis]
    sums = ((offsets >= 0) & (offsets < window)).astype(np.float64)
    sums.flags.writeable = False
    return sums


class ScoreError(GruEdgeError):
    """Frame scores that are not probabilities: NaN, infinite, or outside [0, 1]."""


@dataclass(frozen=True)
class Detection:
    """A keyword heard: its label, the stream time (s) at which it fired, its smoothed score."""

    keyword: str
    time: float
    score: float


class Detector:
    """Turns per-frame scores, fed in chunks of any size, into `Detection`s."""

    def __init__(
        self,
        labels: tuple[str, ...],
        config: DetectorConfig | None = None,
        features: FeatureConfig | None = None,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.labels = tuple(labels)
        self.config = config or DetectorConfig()
        features = features or FeatureConfig()
        self._hop = features.hop_samples / features.sample_rate
        self._frame_end = features.window_samples / features.sample_rate
        frames = lambda ms: max(1, round(ms / features.hop_ms))  # noqa: E731
        self._window = frames(self.config.smoothing_ms)
        self._needed = frames(self.config.min_duration_ms)
        self._refractory = round(self.config.refractory_ms / features.hop_ms)
        unknown = sorted(set(thresholds or {}) - set(self.labels))
        if unknown:
            raise ValueError(f"thresholds for labels the model does not have: {unknown}")
        self._keyword = np.array([is_keyword(label) for label in self.labels])
        self.thresholds = np.array(
            [(thresholds or {}).get(label, self.config.threshold) for label in self.labels]
        )
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros((0, len(self.labels)))  # in ticks of 1 / _GRID
        self._frame = 0  # index of the next frame
        self._run = np.zeros(len(self.labels), dtype=int)  # frames at or above threshold
        self._quiet_until = 0  # no detection before this frame
        self._armed = np.ones(len(self.labels), dtype=bool)  # fallen below threshold since

    def frame_times(self, count: int) -> np.ndarray:
        """When each of the next `count` frames ends (seconds of stream)."""
        return (self._frame + np.arange(count)) * self._hop + self._frame_end

    def smooth(self, scores: np.ndarray) -> np.ndarray:
        """Causal moving average over the last `smoothing_ms` (fewer at the stream's start)."""
        scores = self._checked(scores)
        # float32 scores times 2**32 are exact in float32, and so is their rounding; the
        # concatenation with the float64 history below makes the sums float64.
        ticks = np.rint(scores * _GRID)
        window = self._window
        joined = np.concatenate((self._history, ticks))
        frames = len(ticks)
        if len(self._history) == window - 1 and frames <= MATMUL_FRAMES:
            # Every window whole, as all day long: all of them summed by one matmul.
            sums = _window_sums(window)[:frames, : frames + window - 1]
            averaged = (sums @ joined) / (window * _GRID)
        else:  # the stream's first frames (shorter windows), or a long piece at once
            # Cumulative sums of a whole file outgrow 2**53: they are taken in int64.
            zero = np.zeros((1, joined.shape[1]), np.int64)
            sums = np.cumsum(np.concatenate((zero, joined.astype(np.int64))), axis=0)
            ends = np.arange(len(self._history) + 1, len(joined) + 1)
            starts = np.maximum(ends - window, 0)
            averaged = (sums[ends] - sums[starts]) / (ends - starts)[:, np.newaxis] / _GRID
        self._history = joined[max(0, len(joined) - (window - 1)) :]
        return averaged

    def _checked(self, scores: np.ndarray) -> np.ndarray:
        """The scores as float32 or float64 (frames, labels), or ValueError (a caller's
        mistake) for another shape and ScoreError for values that are not probabilities."""
        scores = np.asarray(scores)
        if scores.dtype != np.float32:
            scores = scores.astype(np.float64, copy=False)
        if scores.ndim != 2 or scores.shape[1] != len(self.labels):
            raise ValueError(
                f"expected scores of shape (frames, {len(self.labels)}), got {scores.shape}"
            )
        # (ufunc reductions: ndarray.min and max add a Python layer; False for NaN)
        if scores.size and not (
            np.minimum.reduce(scores, axis=None) >= 0.0
            and np.maximum.reduce(scores, axis=None) <= 1.0
        ):
            bad = ~((scores >= 0.0) & (scores <= 1.0))
            frame, label = np.argwhere(bad)[0]
            raise ScoreError(
                f"the model scored {scores[frame, label]} for {self.labels[label]!r} at frame "
                f"{self._frame + frame} ({self.frame_times(frame + 1)[-1]:.2f} s of stream); "
                f"scores must be probabilities in [0, 1]: re-export the model, or check the audio"
            )
        return scores

    def process(self, scores: np.ndarray) -> list[Detection]:
        """The detections completed by these frames (frames, labels)."""
        return self.decide(scores)[1]

    def decide(self, scores: np.ndarray) -> tuple[np.ndarray, list[Detection]]:
        """The smoothed scores of these frames (frames, labels) and the detections they
        complete: what a caller shows beside the events."""
        smoothed = self.smooth(scores)
        above = smoothed >= self.thresholds
        above &= self._keyword  # silence and unknown never fire
        first = self._frame
        self._frame += len(smoothed)
        if not above.any():  # the usual chunk: nobody spoke a keyword (or no frames)
            if len(smoothed):
                self._run[:] = 0
                self._armed[:] = True
            return smoothed, []
        # A frame where no keyword is above its threshold only resets the state (every
        # keyword armed, no run), so the loop visits just the frames where one is.
        active = np.nonzero(above.any(axis=1))[0]
        detections = []
        previous = -1
        for offset in active:
            if offset > previous + 1:  # quiet frames since the previous active one
                self._run[:] = 0
                self._armed[:] = True
            previous = offset
            frame = first + offset
            self._armed |= ~above[offset]
            if frame < self._quiet_until:  # a new event needs its full duration afterwards
                self._run[:] = 0
                continue
            self._run = np.where(above[offset], self._run + 1, 0)
            ready = (self._run >= self._needed) & self._armed
            if not ready.any():
                continue
            best = int(np.argmax(np.where(ready, smoothed[offset], -1.0)))
            detections.append(
                Detection(
                    self.labels[best],
                    float(frame * self._hop + self._frame_end),
                    float(smoothed[offset, best]),
                )
            )
            self._quiet_until = frame + 1 + self._refractory
            self._run[:] = 0
            self._armed[best] = False
        if previous < len(smoothed) - 1:  # the chunk ends quiet
            self._run[:] = 0
            self._armed[:] = True
        return smoothed, detections
