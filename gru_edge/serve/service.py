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
import signal
import socket

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.wake import Detect, NotDetected

from gru_edge.errors import GruEdgeError
from gru_edge.extras import require
from gru_edge.serve.wake_words import ClientStream, ServeError, WakeModels

logger = logging.getLogger(__name__)


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
        connection = writer.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            # A peer that vanished without closing (power cut, Wi-Fi gone) is found by the
            # kernel's keep-alive probes, and its slot of --max-clients freed.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    async def run(self) -> None:
        """The events of the connection until it closes, goes quiet for the idle timeout, or
        breaks the protocol (that connection only; the server goes on)."""
        idle = self.service.idle_seconds or None
        try:
            while True:
                try:
                    event = await asyncio.wait_for(async_read_event(self.reader), idle)
                except TimeoutError:
                    logger.info(
                        "%s sent nothing for %g s (--idle-timeout); closing it", self.peer, idle
                    )
                    await self.write_event(Error(text="idle for too long", code="idle").event())
                    break
                if event is None or not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            logger.info("%s disconnected mid-event", self.peer)
        except (KeyError, TypeError, ValueError) as e:  # an event without its fields
            logger.warning(
                "%s sent an event that cannot be read (%s: %s); closing it",
                self.peer,
                type(e).__name__,
                e,
            )
        except Exception:  # our own bug: its traceback in the log, this connection closed
            logger.exception("closing %s after an unexpected error", self.peer)
        finally:
            self.writer.close()
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
            decoder = self.stream.decoder
            if (chunk.rate, chunk.width, chunk.channels) != (
                decoder.rate,
                decoder.width,
                decoder.channels,
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
        except GruEdgeError as e:
            return await self._refuse(str(e))
        return True

    async def _refuse(self, why: str) -> bool:
        logger.warning("%s: %s; closing the connection", self.peer, why)
        await self.write_event(Error(text=why, code="bad-audio").event())
        return False


class WakeService:
    """The server: `models` shared by at most `max_clients` connections at once."""

    def __init__(
        self, models: WakeModels, uri: str, max_clients: int = 16, idle_seconds: float = 300.0
    ) -> None:
        if max_clients < 1:
            raise ServeError(f"--max-clients must be at least 1, got {max_clients}")
        if not idle_seconds >= 0:
            raise ServeError(
                f"--idle-timeout must be 0 (never) or more seconds, got {idle_seconds}"
            )
        # stdio:// would serve one client on this process's own stdin: not a service.
        if not uri.startswith(("tcp://", "unix://")):
            raise ServeError(
                f"--uri {uri}: gru-edge serve listens on tcp://HOST:PORT or unix://PATH"
            )
        self.models, self.uri, self.max_clients = models, uri, max_clients
        self.idle_seconds = idle_seconds
        self.clients: set[WakeHandler] = set()
        self._zeroconf = None  # the mDNS announcement while it lasts
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
        try:
            if zeroconf_name:
                await self._announce(zeroconf_name)
            await stop.wait()
            stopping = Error(text="the server is stopping", code="stopping").event()
            told = [client.write_event(stopping) for client in list(self.clients)]
            with contextlib.suppress(TimeoutError):  # a client that does not read: not waited for
                await asyncio.wait_for(asyncio.gather(*told, return_exceptions=True), timeout=0.3)
        finally:
            if self._zeroconf is not None:  # the goodbye: Home Assistant forgets the entry
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._zeroconf.async_close(), timeout=0.3)
            await asyncio.wait_for(self.server.stop(), timeout=0.5)

    def run_until_signalled(self, zeroconf_name: str | None = None) -> None:
        """`serve` until SIGTERM or SIGINT (what `gru-edge serve` runs)."""

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await self.serve(stop, zeroconf_name)

        asyncio.run(serve())

    async def _announce(self, name: str) -> None:
        """mDNS as Home Assistant looks for it (a `_wyoming._tcp` service), with the zeroconf
        package itself: wyoming's helper can neither withdraw its announcement nor take a
        name another device already uses. A name in use becomes "NAME (2)"."""
        require("zeroconf", "serve", "gru-edge serve --zeroconf")
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        port = getattr(self.server, "port", None)
        if port is None:
            raise ServeError(f"--zeroconf announces a tcp:// service, and {self.uri} is not one")
        try:
            address = _lan_address()
            zeroconf = AsyncZeroconf()
            info = AsyncServiceInfo(
                "_wyoming._tcp.local.",
                f"{name}._wyoming._tcp.local.",
                addresses=[socket.inet_aton(address)],
                port=port,
            )
            await zeroconf.async_register_service(info, allow_name_change=True)
        except OSError as e:
            raise ServeError(
                f"--zeroconf {name}: cannot announce on the local network ({e.strerror or e}); "
                "is the network up? (the systemd unit waits for network-online.target)"
            ) from None
        self._zeroconf = zeroconf
        logger.info("announced as %r on %s (zeroconf)", info.name.split(".")[0], address)


def _lan_address() -> str:
    """The address other machines reach this one at: the one a datagram to the mDNS group
    would leave from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))
        return probe.getsockname()[0]


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
