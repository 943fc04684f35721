"""The Wyoming wake protocol over the wake words of `gru_edge.serve.wake_words`.

Through the `wyoming` package's own events and server, as wyoming-openwakeword and
wyoming-microwakeword do: `describe` -> `info` with every keyword as a wake model; `detect`
chooses the names a client wants; `audio-start`, `audio-chunk`s and `audio-stop` bring the
audio; `detection` (name, the time in the client's audio) goes back as soon as a keyword
fires, and `not-detected` at `audio-stop` when none did. `ping` is answered, other events are
ignored; a client that breaks the protocol is told (an `error` event) where it can be, and
closed alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.wake import Detect, NotDetected

from gru_edge.errors import GruEdgeError
from gru_edge.extras import require
from gru_edge.serve.wake_words import ClientStream, WakeModels

logger = logging.getLogger(__name__)


class ServeError(GruEdgeError):
    """A service that cannot start: a bad --uri, a port in use, a model that will not load."""


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
        logger.info("serving %s on %s", ", ".join(w.name for w in self.models.words), self.uri)
        if zeroconf_name:
            await self._announce(zeroconf_name)
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
