"""KeywordSpotter: audio source -> streaming model -> detector -> keyword events.

    spotter = KeywordSpotter("model.tflite")
    for detection in spotter.detections(MicrophoneSource()):   # an iterator ...
        print(detection.keyword, detection.time, detection.score)
    spotter.run(WavSource("clip.wav"), on_detection=print)      # ... or a callback

Ctrl-C ends `run` cleanly: the source is closed and `run` returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path

import numpy as np

from gru_edge.config import DetectorConfig
from gru_edge.errors import GruEdgeError
from gru_edge.runtime.detector import Detection, Detector
from gru_edge.runtime.sources import Source
from gru_edge.runtime.stream import AudioStream

SHIPPED_MODEL = "kws12.int8.tflite"


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

    The detector settings default to the ones the model carries; `threshold` replaces the
    default threshold, `thresholds` sets some keywords' own.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        threshold: float | None = None,
        thresholds: Mapping[str, float] | None = None,
        detector: DetectorConfig | None = None,
        num_threads: int = 1,
    ) -> None:
        self.model_path = Path(model) if model else default_model()
        self.stream = AudioStream(self.model_path, num_threads=num_threads)
        metadata = self.stream.model.metadata
        config = detector or metadata.detector
        if threshold is not None:
            config = dataclasses.replace(config, threshold=threshold)
        self.detector = Detector(metadata.labels, config, metadata.features, thresholds)
        self.seconds_heard = 0.0

    @property
    def labels(self) -> tuple[str, ...]:
        return self.stream.labels

    def reset(self) -> None:
        self.stream.reset()
        self.detector.reset()
        self.seconds_heard = 0.0

    def feed(self, samples: np.ndarray) -> list[Detection]:
        """16 kHz mono samples in, the detections they complete out."""
        self.seconds_heard += len(samples) / self.stream.model.metadata.features.sample_rate
        return self.detector.process(self.stream.accept(samples))

    def detections(self, source: Iterable[np.ndarray]) -> Iterator[Detection]:
        for block in source:
            yield from self.feed(block)

    def run(self, source: Source, on_detection: Callable[[Detection], None]) -> None:
        """Calls `on_detection` for each keyword until the source ends or Ctrl-C."""
        try:
            for detection in self.detections(source):
                on_detection(detection)
        except KeyboardInterrupt:
            pass
        finally:
            source.close()
