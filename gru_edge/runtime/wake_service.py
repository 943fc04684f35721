"""A Wyoming wake-word service: Home Assistant's voice pipeline, or a Wyoming satellite, streams
audio in and gets keyword detections back (`gru-edge serve`).

The protocol is the `wyoming` package's own (events, server, info; the `serve` extra), as in
wyoming-openwakeword and wyoming-microwakeword: `describe` -> `info` with every keyword as a
wake model; `detect` chooses the names a client wants; `audio-start`, `audio-chunk`s and
`audio-stop` bring the audio; `detection` (name, the time in the client's audio) goes back as
soon as a keyword fires, and `not-detected` at `audio-stop` when none did.

Each model file is loaded once and shared by every connection: a connection has its own front
end, detector and model state, and the shared interpreter runs that state, swapped in around
each chunk (the model takes its state as an input and gives it back as an output, so nothing
of one client stays in it for the next). Everything runs on the event loop's one thread, so
an interpreter never sees two callers at once; the audio work per 10 ms of a client is a few
tens of microseconds, far below what would need a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, WakeModel, WakeProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.wake import Detect, Detection, NotDetected

from gru_edge import __version__
from gru_edge.audio import SAMPLE_RATE
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require
from gru_edge.runtime.sources import _Resampler
from gru_edge.runtime.spotter import KeywordSpotter, default_model
from gru_edge.runtime.stream import StreamingModel

logger = logging.getLogger(__name__)

# gru_edge has no public address yet, and an attribution's url is a required string.
PROJECT_URL = ""
WIDTHS = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}  # bytes -> sample type


class ServeError(GruEdgeError):
    """A service that cannot start: a bad --uri, a port in use, a model that will not load."""


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
        self.models = [StreamingModel(path) for path in self.paths]
        self.threshold = threshold
        counts: dict[str, int] = {}
        for model in self.models:
            for keyword in model.metadata.keywords:
                counts[keyword] = counts.get(keyword, 0) + 1
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
                    languages=["en"],
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
        if width not in WIDTHS or channels < 1 or rate < 1:
            raise ValueError(
                f"audio of {width}-byte samples, {channels} channel(s) at {rate} Hz: "
                f"gru-edge serve takes 1, 2 or 4-byte PCM"
            )
        self.rate, self.width, self.channels = rate, width, channels
        self.frame_bytes = width * channels
        self.leftover = b""
        self.resample = _Resampler(rate, SAMPLE_RATE, "the client's audio", "serve")
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
        data = self.leftover + audio
        whole = len(data) - len(data) % self.frame_bytes
        self.leftover = data[whole:]
        return self._hear(self.resample(self._decode(data[:whole])))

    def finish(self) -> list[Detection]:
        """`audio-stop`: what the resampler still holds."""
        return self._hear(self.resample(np.zeros(0, np.float32), last=True))

    def _decode(self, data: bytes) -> np.ndarray:
        samples = np.frombuffer(data, WIDTHS[self.width]).astype(np.float32)
        if self.width == 1:  # 8-bit PCM is unsigned, as in WAV and the wyoming package
            samples -= 128.0
        samples /= 2.0 ** (8 * self.width - 1)
        return samples.reshape(-1, self.channels).mean(axis=1)

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


class WakeHandler(AsyncEventHandler):
    """One connection. A client that breaks the protocol (malformed events, audio in an
    unknown format, a disconnect mid-stream) is logged and its connection closed; the server
    and the other connections go on."""

    def __init__(self, service: WakeService, reader, writer) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.peer = writer.get_extra_info("peername") or "a client"
        self.names: list[str] | None = None
        self.stream: ClientStream | None = None

    async def run(self) -> None:
        try:
            await super().run()
        except (ConnectionError, asyncio.IncompleteReadError):
            logger.info("%s disconnected mid-event", self.peer)
        except Exception as e:  # a malformed event: this connection only
            logger.warning(
                "%s sent what cannot be read (%s: %s); closing it", self.peer, type(e).__name__, e
            )
        finally:
            self.service.clients.discard(self)

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self.service.models.info().event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Detect.is_type(event.type):
            names = Detect.from_event(event).names
            unknown = sorted(set(names or []) - {w.name for w in self.service.models.words})
            if unknown:
                logger.warning("%s asked for unknown wake words %s", self.peer, unknown)
            self.names = names or None
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            return await self._start(start.rate, start.width, start.channels)
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            if self.stream is None:  # no audio-start: the chunk says what it is
                logger.info("%s sent audio before audio-start; starting its stream", self.peer)
                if not await self._start(chunk.rate, chunk.width, chunk.channels):
                    return False
            if (chunk.rate, chunk.width, chunk.channels) != (
                self.stream.rate,
                self.stream.width,
                self.stream.channels,
            ):
                return await self._refuse("an audio chunk changed format mid-stream")
            for detection in self.stream.accept(chunk.audio, chunk.timestamp):
                await self.write_event(detection.event())
        elif AudioStop.is_type(event.type):
            if self.stream is not None:
                for detection in self.stream.finish():
                    await self.write_event(detection.event())
                if not self.stream.detected:
                    await self.write_event(NotDetected().event())
                self.stream = None
        else:
            logger.debug("%s: ignored event %r", self.peer, event.type)
        return True

    async def _start(self, rate: int, width: int, channels: int) -> bool:
        try:
            self.stream = ClientStream(self.service.models, self.names, rate, width, channels)
        except (ValueError, GruEdgeError) as e:
            return await self._refuse(str(e))
        return True

    async def _refuse(self, why: str) -> bool:
        logger.warning("%s: %s; closing the connection", self.peer, why)
        await self.write_event(Error(text=why, code="bad-audio").event())
        return False


class WakeService:
    """The server: `models` shared by at most `max_clients` connections at once."""

    def __init__(self, models: WakeModels, uri: str, max_clients: int = 16) -> None:
        if max_clients < 1:
            raise ServeError(f"--max-clients must be at least 1, got {max_clients}")
        self.models, self.uri, self.max_clients = models, uri, max_clients
        self.clients: set[WakeHandler] = set()
        try:
            self.server = AsyncServer.from_uri(uri)
        except ValueError as e:
            raise ServeError(f"--uri {uri}: {e} (e.g. tcp://0.0.0.0:10400)") from None

    def _connect(self, reader, writer) -> AsyncEventHandler:
        if len(self.clients) >= self.max_clients:
            return _Refusal(reader, writer, self.max_clients)
        handler = WakeHandler(self, reader, writer)
        self.clients.add(handler)
        logger.info("%s connected (%d of %d)", handler.peer, len(self.clients), self.max_clients)
        return handler

    async def serve(self, stop: asyncio.Event, zeroconf_name: str | None = None) -> None:
        """Serves until `stop` is set, then tells every client and closes within a second;
        announced over mDNS as `zeroconf_name` if given."""
        try:
            await self.server.start(self._connect)
        except OSError as e:
            raise ServeError(f"cannot listen on {self.uri}: {e.strerror or e}") from None
        if zeroconf_name:
            await self._announce(zeroconf_name)
        logger.info("serving %s on %s", ", ".join(w.name for w in self.models.words), self.uri)
        await stop.wait()
        stopping = Error(text="the server is stopping", code="stopping").event()
        told = [client.write_event(stopping) for client in list(self.clients)]
        with contextlib.suppress(TimeoutError):  # a client that does not read is not waited for
            await asyncio.wait_for(asyncio.gather(*told, return_exceptions=True), timeout=0.3)
        await asyncio.wait_for(self.server.stop(), timeout=0.5)

    async def _announce(self, name: str) -> None:
        """mDNS, as wyoming-openwakeword does: Home Assistant then offers the service itself."""
        require("zeroconf", "serve", "gru-edge serve --zeroconf")
        from wyoming.zeroconf import HomeAssistantZeroconf

        port = getattr(self.server, "port", None)
        if port is None:
            raise ServeError(f"--zeroconf announces a tcp:// service, and {self.uri} is not one")
        await HomeAssistantZeroconf(port=port, name=name).register_server()
        logger.info("announced as %s on the local network (zeroconf)", name)


class _Refusal(AsyncEventHandler):
    """A connection over the limit: told why, then closed."""

    def __init__(self, reader, writer, limit: int) -> None:
        super().__init__(reader, writer)
        self.limit = limit

    async def run(self) -> None:
        logger.warning("refused a client: already %d connected (--max-clients)", self.limit)
        text = f"gru-edge serve has its {self.limit} clients (--max-clients); try again later"
        try:
            await self.write_event(Error(text=text, code="too-many-clients").event())
        finally:
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        return False
