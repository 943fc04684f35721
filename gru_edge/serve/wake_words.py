"""The wake words a service offers, and one client's audio through them.

Each model file is loaded once and shared by every connection: a connection has its own front
end, detector and model state, and the shared interpreter runs that state, swapped in around
each chunk (the model takes its state as an input and gives it back as an output, so nothing
of one client stays in it for the next). The service runs everything on its event loop's one
thread, so an interpreter never sees two callers at once: a client streaming in real time
costs 50-125 us of CPU per 10 ms of its audio (`benchmarks/bench_serve.py`; 8 us when its
chunks come back to back, `benchmarks/bench_runtime.py`), far below what would need threads,
and 63 kB of memory per extra client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from wyoming.info import Attribution, Info, WakeModel, WakeProgram
from wyoming.wake import Detection

from gru_edge import __version__
from gru_edge.audio import SAMPLE_RATE, check_rate
from gru_edge.errors import GruEdgeError
from gru_edge.features import FeatureExtractor
from gru_edge.runtime.sources import PcmDecoder
from gru_edge.runtime.spotter import KeywordSpotter, default_model
from gru_edge.runtime.stream import StreamingModel

# gru_edge has no public address yet, and an attribution's url is a required string.
PROJECT_URL = ""


class ServeError(GruEdgeError):
    """A service that cannot start: a bad option, a port in use, models it cannot offer."""


@dataclass(frozen=True)
class WakeWord:
    """One wake model a client can ask for: a keyword of one of the loaded models."""

    name: str
    model: int  # index into WakeModels.models
    keyword: str


class WakeModels:
    """The model files, loaded once, and the wake words they offer. A keyword two models
    share is offered as `FILE-STEM:keyword` for each."""

    def __init__(
        self, paths: Iterable[str | Path] | None = None, threshold: float | None = None
    ) -> None:
        self.paths = [Path(p) for p in (paths or [default_model()])]
        if threshold is not None and not 0 < threshold <= 1:
            raise ServeError(f"--threshold {threshold:g}: a threshold is in (0, 1]")
        stems = Counter(path.stem for path in self.paths)
        twins = sorted(stem for stem, count in stems.items() if count > 1)
        if twins:
            raise ServeError(
                f"several models are named {', '.join(twins)}: their wake words would have the "
                f"same names; give each model file a name of its own"
            )
        self.models = [StreamingModel(path) for path in self.paths]
        for model in self.models:  # the front end's shared tables now, not at the first client
            FeatureExtractor(model.metadata.features)
        self.threshold = threshold
        counts = Counter(keyword for model in self.models for keyword in model.metadata.keywords)
        self.words = [
            WakeWord(keyword if counts[keyword] == 1 else f"{path.stem}:{keyword}", i, keyword)
            for i, (path, model) in enumerate(zip(self.paths, self.models, strict=True))
            for keyword in model.metadata.keywords
        ]

    def info(self) -> Info:
        """What `describe` answers: one wake program, a wake model per keyword."""
        models = []
        for word in self.words:
            metadata = self.models[word.model].metadata
            models.append(
                WakeModel(
                    name=word.name,
                    description=f"{word.keyword!r} ({self.paths[word.model].name}, "
                    f"{metadata.quantization})",
                    phrase=word.keyword,
                    attribution=Attribution(
                        name=f"gru_edge; trained on {metadata.training_data}", url=PROJECT_URL
                    ),
                    installed=True,
                    languages=["en"],  # a model file names no language; gru_edge's are English
                    version=metadata.gru_edge_version,
                )
            )
        program = WakeProgram(
            name="gru-edge",
            description="gru_edge: a streaming GRU keyword spotter",
            attribution=Attribution(name="gru_edge developers", url=PROJECT_URL),
            installed=True,
            version=__version__,
            models=models,
        )
        return Info(wake=[program])


class ClientStream:
    """One client's audio, from `audio-start` to `audio-stop`: converted to 16 kHz mono, run
    through every model with this client's own state, detections of the wanted names out."""

    def __init__(
        self, models: WakeModels, names: list[str] | None, rate: int, width: int, channels: int
    ) -> None:
        check_rate(rate, "the client's audio", "send audio at 16 kHz, or any rate in that range")
        self.decoder = PcmDecoder(rate, width, channels, SAMPLE_RATE, "the client's audio", "serve")
        self.spotters = [
            KeywordSpotter(model, threshold=models.threshold) for model in models.models
        ]
        for spotter in self.spotters:
            spotter.reset()  # zero state, pending nothing: this client's start
        self.states = [spotter.stream.state for spotter in self.spotters]
        wanted = set(names or [w.name for w in models.words])
        self.wanted = {(w.model, w.keyword): w.name for w in models.words if w.name in wanted}
        self.detected = 0
        self.start_ms: int | None = None  # the client's timestamp of its first chunk

    def accept(self, audio: bytes, timestamp: int | None = None) -> list[Detection]:
        """A chunk of the client's bytes (any length: a partial frame waits for the next)."""
        if self.start_ms is None:
            self.start_ms = timestamp or 0
        return self._hear(self.decoder.accept(audio))

    def finish(self) -> list[Detection]:
        """`audio-stop`: what the resampler still holds."""
        return self._hear(self.decoder.finish())

    def _hear(self, samples: np.ndarray) -> list[Detection]:
        if not len(samples):
            return []
        found = []
        for i, spotter in enumerate(self.spotters):
            spotter.stream.state = self.states[i]  # this client's state into the shared model
            heard = spotter.process(samples)
            self.states[i] = spotter.stream.state
            for detection in heard.detections:
                name = self.wanted.get((i, detection.keyword))
                if name is not None:
                    milliseconds = (self.start_ms or 0) + round(detection.time * 1000)
                    found.append(Detection(name=name, timestamp=milliseconds))
        self.detected += len(found)
        return found
