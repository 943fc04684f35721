"""KeywordSpotter: audio source -> streaming model -> detector -> keyword events.

    spotter = KeywordSpotter("model.tflite")
    for detection in spotter.detections(MicrophoneSource()):   # an iterator ...
        print(detection.keyword, detection.time, detection.score)
    spotter.run(WavSource("clip.wav"), on_detection=print)      # ... or a callback
    heard = spotter.process(samples)   # ... or samples in, scores and detections out

Ctrl-C ends `run` cleanly: the source is closed and `run` returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from gru_edge.config import DetectorConfig
from gru_edge.errors import GruEdgeError
from gru_edge.modelfile import ModelMetadata
from gru_edge.runtime.detector import Detection, Detector
from gru_edge.runtime.sources import Source
from gru_edge.runtime.stream import AudioStream, StreamingModel

# Dynamic-range: int8 weights, float activations. It invokes as fast as full int8 and decides
# like float32 (full int8 agrees with float32 on 94 % of a stream's frames: its 8-bit GRU state
# drifts); docs/models/kws12.md.
SHIPPED_MODEL = "kws12.dynamic.tflite"


@dataclass(frozen=True)
class Heard:
    """What a piece of audio gave: when each completed frame ends (seconds of stream), its
    scores (frames, labels), the same smoothed as the detector sees them, and the detections
    they completed."""

    times: np.ndarray
    scores: np.ndarray
    smoothed: np.ndarray
    detections: list[Detection]


def default_model() -> Path:
    """The model shipped inside the package, used when none is named."""
    path = Path(str(resources.files("gru_edge") / "models" / SHIPPED_MODEL))
    if not path.is_file():
        raise GruEdgeError(
            "no model named and none is shipped with this gru_edge: pass the path "
            "of a .tflite file exported with `gru-edge export`"
        )
    return path


class KeywordSpotter:
    """Listens to a source with a gru_edge model and reports the keywords it hears.

    The detector settings default to the ones the model carries, with the per-keyword
    thresholds calibrated at export; `threshold` replaces every keyword's threshold,
    `thresholds` sets some keywords' own, `detector` replaces the settings (and with them the
    calibrated thresholds). `model` may be a `StreamingModel` that several spotters share,
    each carrying its own state into it (`stream.state`).
    """

    def __init__(
        self,
        model: str | Path | StreamingModel | None = None,
        threshold: float | None = None,
        thresholds: Mapping[str, float] | None = None,
        detector: DetectorConfig | None = None,
        num_threads: int = 1,
    ) -> None:
        if isinstance(model, StreamingModel):  # shared with other spotters (gru-edge serve)
            self.model_path, self.stream = model.path, AudioStream(model)
        else:
            self.model_path = Path(model) if model else default_model()
            self.stream = AudioStream(self.model_path, num_threads=num_threads)
        metadata = self.stream.model.metadata
        config = detector or metadata.detector
        if threshold is not None:
            config = dataclasses.replace(config, threshold=threshold)
        # The thresholds calibrated at export belong to the model's own detector settings.
        calibrated = metadata.thresholds if detector is None and threshold is None else {}
        self.detector = Detector(
            metadata.labels, config, metadata.features, {**calibrated, **(thresholds or {})}
        )
        self.seconds_heard = 0.0

    @property
    def labels(self) -> tuple[str, ...]:
        return self.stream.labels

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.stream.model.metadata.keywords

    @property
    def metadata(self) -> ModelMetadata:
        return self.stream.model.metadata

    @property
    def thresholds(self) -> dict[str, float]:
        """Each keyword's threshold as the detector applies it."""
        return {k: float(self.detector.thresholds[self.labels.index(k)]) for k in self.keywords}

    def reset(self) -> None:
        self.stream.reset()
        self.detector.reset()
        self.seconds_heard = 0.0

    def process(self, samples: np.ndarray) -> Heard:
        """16 kHz mono samples of any length in; the frames they complete and the detections
        out. The stream and the detector carry on from the previous call."""
        self.seconds_heard += len(samples) / self.metadata.features.sample_rate
        scores = self.stream.accept(samples)
        if not len(scores):  # the stream is gathering its next chunk
            return Heard(np.zeros(0), scores, np.zeros(scores.shape), [])
        times = self.detector.frame_times(len(scores))
        smoothed, detections = self.detector.decide(scores)
        return Heard(times, scores, smoothed, detections)

    def detections(self, source: Iterable[np.ndarray]) -> Iterator[Detection]:
        for block in source:
            yield from self.process(block).detections

    def run(self, source: Source, on_detection: Callable[[Detection], None]) -> None:
        """Calls `on_detection` for each keyword until the source ends or Ctrl-C."""
        try:
            for detection in self.detections(source):
                on_detection(detection)
        except KeyboardInterrupt:
            pass
        finally:
            source.close()
