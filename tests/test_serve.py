"""`gru-edge serve` as Home Assistant meets it: a real server on loopback, spoken to only with
the `wyoming` package's own client and events (nothing of gru_edge on the client side)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.wake import Detect, Detection, NotDetected

from gru_edge.runtime.spotter import KeywordSpotter

GRU_EDGE = str(Path(sys.executable).parent / "gru-edge")
TOLERANCE_MS = 30  # a detection's time, client against in-process: up to resampling and chunking


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path  # what it wrote to stderr

    def said(self) -> str:
        return self.log.read_text()


@contextlib.contextmanager
def running_server(model: Path, *options: str):
    """`gru-edge serve` on a free loopback port, once it says it is serving (a probe
    connection would be a client of its own, and count against --max-clients)."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "stderr.txt"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [GRU_EDGE, "serve", "--uri", f"tcp://127.0.0.1:{port}", "--model", str(model)]
                + list(options),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                text=True,
            )
        server = Server(process, port, log)
        try:
            deadline = time.monotonic() + 30
            while "serving " not in server.said():
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {server.said()}")
                time.sleep(0.05)
            yield server
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(committed_models):
    with running_server(committed_models["int8"]) as running:
        yield running.process, running.port


def _pcm(audio: np.ndarray, width: int) -> np.ndarray:
    """Float samples as little-endian integer PCM of `width` bytes, one row of bytes each."""
    values = np.round(np.clip(audio, -1, 1 - 2.0 ** (1 - 8 * width)) * 2.0 ** (8 * width - 1))
    if width == 1:  # 8-bit PCM is unsigned
        return (values + 128).astype(np.uint8)[:, None]
    as_int32 = values.astype("<i4").view(np.uint8).reshape(-1, 4)
    return as_int32[:, :width]  # the low bytes: little-endian


def _chunks(
    audio: np.ndarray, rate: int, channels: int, sizes: list[int], width: int = 2
) -> list[AudioChunk]:
    """The audio as PCM chunks of `sizes` bytes in turn (odd sizes split frames)."""
    frames = np.repeat(_pcm(audio, width)[:, None, :], channels, axis=1)
    data, chunks, at, i = frames.tobytes(), [], 0, 0
    while at < len(data):
        size = sizes[i % len(sizes)]
        chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=data[at : at + size])
        chunks.append(chunk)
        at, i = at + size, i + 1
    return chunks


async def _detect(
    port: int,
    audio: np.ndarray,
    names: list[str] | None = None,
    rate: int = 16000,
    channels: int = 1,
    sizes: tuple[int, ...] = (3200,),
    start: bool = True,
    width: int = 2,
) -> list[Event]:
    """Streams `audio` as a client would; returns the events the server sent back."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        if names is not None:
            await client.write_event(Detect(names=names).event())
        if start:
            await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        for chunk in _chunks(audio, rate, channels, list(sizes), width):
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        return await _until_not_detected_or_quiet(client)


async def _until_not_detected_or_quiet(client, quiet: float = 2.0) -> list[Event]:
    events = []
    with contextlib.suppress(TimeoutError):
        while True:
            event = await asyncio.wait_for(client.read_event(), quiet)
            if event is None:
                break
            events.append(event)
            if NotDetected.is_type(event.type):
                break
    return events


def _detections(events: list[Event]) -> list[tuple[str, int]]:
    return [
        (d.name, d.timestamp)
        for d in (Detection.from_event(e) for e in events if Detection.is_type(e.type))
    ]


def _expected(model: Path, audio: np.ndarray) -> list[tuple[str, int]]:
    spotter = KeywordSpotter(model)
    return [(d.keyword, round(d.time * 1000)) for d in spotter.process(audio).detections]


def _as_in_process(events: list[Event], model: Path, audio: np.ndarray) -> bool:
    """The server's detections are those the in-process spotter finds in `audio`."""
    return _same(_detections(events), _expected(model, audio))


def _same(got: list[tuple[str, int]], expected: list[tuple[str, int]]) -> bool:
    return [n for n, _ in got] == [n for n, _ in expected] and all(
        abs(a - b) <= TOLERANCE_MS for (_, a), (_, b) in zip(got, expected, strict=True)
    )


def test_describe_lists_every_keyword_as_a_wake_model(server, committed_models):
    _, port = server

    async def ask() -> Info:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            return Info.from_event(await client.read_event())

    info = asyncio.run(ask())
    (program,) = info.wake
    keywords = KeywordSpotter(committed_models["int8"]).keywords
    assert [m.name for m in program.models] == list(keywords)
    assert all(m.languages == ["en"] and m.installed for m in program.models)
    assert all("trained on" in m.attribution.name for m in program.models)


def test_a_stream_with_keywords_gets_their_names_and_times(server, committed_models, yes_no):
    audio, _ = yes_no
    _, port = server
    events = asyncio.run(_detect(port, audio))
    expected = _expected(committed_models["int8"], audio)
    assert [name for name, _ in expected] == ["yes", "no"]
    assert _same(_detections(events), expected)
    assert not any(NotDetected.is_type(e.type) for e in events)


def test_detect_names_choose_the_wake_words_and_silence_ends_not_detected(server, yes_no):
    audio, _ = yes_no
    _, port = server
    assert [n for n, _ in _detections(asyncio.run(_detect(port, audio, names=["no"])))] == ["no"]
    quiet = np.random.default_rng(0).normal(0, 0.003, 32000).astype(np.float32)
    events = asyncio.run(_detect(port, quiet))
    assert [e.type for e in events] == ["not-detected"]


@pytest.mark.parametrize(
    "rate, width, channels", [(48000, 2, 2), (22050, 4, 1), (16000, 3, 1), (16000, 1, 3)]
)
def test_any_rate_width_and_channel_count_is_converted(
    server, committed_models, yes_no, rate, width, channels
):
    soxr = pytest.importorskip("soxr")
    audio, _ = yes_no
    _, port = server
    theirs = soxr.resample(audio, 16000, rate).astype(np.float32) if rate != 16000 else audio
    events = asyncio.run(_detect(port, theirs, rate=rate, channels=channels, width=width))
    step = 2.0 ** (1 - 8 * width)  # what the client's samples can say: 8 bits change the audio
    heard = (np.round(audio / step) * step).astype(np.float32)
    assert _as_in_process(events, committed_models["int8"], heard)


@pytest.mark.parametrize("clients", [2, 10])
def test_clients_at_once_each_get_their_own_detections(server, committed_models, yes_no, clients):
    audio, _ = yes_no
    _, port = server
    rng = np.random.default_rng(clients)
    quiet = rng.normal(0, 0.003, len(audio)).astype(np.float32)
    # Every other client has the words, the rest noise alone; different chunk sizes each.
    streams = [audio if i % 2 == 0 else quiet for i in range(clients)]
    sizes = [(int(rng.integers(1, 4000)),) for _ in range(clients)]

    async def together():
        return await asyncio.gather(
            *(_detect(port, s, sizes=z) for s, z in zip(streams, sizes, strict=True))
        )

    results = asyncio.run(together())
    expected = _expected(committed_models["int8"], audio)
    for i, events in enumerate(results):
        if i % 2 == 0:
            assert _same(_detections(events), expected), i
        else:
            assert [e.type for e in events] == ["not-detected"], i


async def _raw(port: int, lines: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for line in lines:
        writer.write(line)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.mark.reliability(
    area="wyoming server",
    fault="a client sends a malformed event, one with no type, or garbage",
    outcome="that connection is closed, logged; the server serves the next",
)
@pytest.mark.parametrize(
    "garbage",
    [b"{not json\n", b'{"data": {}}\n', b"\xff\xfe\x00\x01\n", b'{"type": "audio-chunk"}\n'],
    ids=["not-json", "no-type", "bytes", "chunk-without-format"],
)
def test_a_malformed_event_closes_only_that_connection(server, committed_models, yes_no, garbage):
    audio, _ = yes_no
    process, port = server
    asyncio.run(_raw(port, [garbage]))
    assert process.poll() is None
    assert _as_in_process(asyncio.run(_detect(port, audio)), committed_models["int8"], audio)


@pytest.mark.reliability(
    area="wyoming server",
    fault="a client disconnects mid-stream, mid-event",
    outcome="logged; the server serves the others",
)
def test_a_client_gone_mid_stream_leaves_the_server_serving(server, committed_models, yes_no):
    audio, _ = yes_no
    process, port = server
    start = json.dumps({"type": "audio-start", "data": {"rate": 16000, "width": 2, "channels": 1}})
    chunk = json.dumps(
        {
            "type": "audio-chunk",
            "data": {"rate": 16000, "width": 2, "channels": 1},
            "payload_length": 3200,
        }
    )
    # audio-start, then a chunk whose payload never arrives in full: the socket closes
    asyncio.run(_raw_and_close(port, [f"{start}\n{chunk}\n".encode(), b"\0" * 1000]))
    assert process.poll() is None
    assert _as_in_process(asyncio.run(_detect(port, audio)), committed_models["int8"], audio)


async def _raw_and_close(port: int, pieces: list[bytes]) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in pieces:
        writer.write(piece)
    await writer.drain()
    writer.close()


@pytest.mark.reliability(
    area="wyoming server",
    fault="a client sends audio before audio-start, or an unknown event",
    outcome="the chunk starts the stream; the unknown event is ignored; ping answered",
)
def test_audio_before_audio_start_and_unknown_events(server, committed_models, yes_no):
    audio, _ = yes_no
    _, port = server
    events = asyncio.run(_detect(port, audio, start=False))
    assert _as_in_process(events, committed_models["int8"], audio)

    async def unknown_then_ping():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Event(type="no-such-event", data={"x": 1}))
            await client.write_event(Ping(text="hello").event())
            return await asyncio.wait_for(client.read_event(), 5)

    assert Pong.from_event(asyncio.run(unknown_then_ping())).text == "hello"


@pytest.mark.reliability(
    area="wyoming server",
    fault="audio chunks of odd sizes, splitting samples (1 to 7 bytes)",
    outcome="the same detections as whole chunks",
)
def test_chunks_of_odd_sizes_give_the_same_detections(server, committed_models, yes_no):
    audio, _ = yes_no
    _, port = server
    events = asyncio.run(_detect(port, audio[:48000], sizes=(1, 3, 7, 5, 1001)))
    assert _as_in_process(events, committed_models["int8"], audio[:48000])


@pytest.mark.reliability(
    area="wyoming server",
    fault="a client connects and stays silent while another streams",
    outcome="the other client's detections arrive as usual",
)
def test_a_silent_client_holds_nobody_up(server, committed_models, yes_no):
    audio, _ = yes_no
    _, port = server

    async def beside_a_silent_one():
        async with AsyncTcpClient("127.0.0.1", port):
            return await _detect(port, audio)

    events = asyncio.run(beside_a_silent_one())
    assert _as_in_process(events, committed_models["int8"], audio)


@pytest.mark.reliability(
    area="wyoming server",
    fault="audio in a format it cannot take (5-byte samples), or a format change mid-stream",
    outcome="an error event saying why, that connection closed",
)
def test_audio_in_an_unusable_format_is_refused_with_an_error_event(server):
    _, port = server

    async def send(*events: Event) -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for event in events:
                await client.write_event(event)
            return await _until_not_detected_or_quiet(client)

    (error,) = asyncio.run(send(AudioStart(rate=16000, width=5, channels=1).event()))
    assert "5-byte samples" in Error.from_event(error).text
    changed = AudioChunk(rate=8000, width=2, channels=1, audio=b"\0" * 320)
    (error,) = asyncio.run(
        send(AudioStart(rate=16000, width=2, channels=1).event(), changed.event())
    )
    assert "changed format" in Error.from_event(error).text


@pytest.mark.reliability(
    area="wyoming server",
    fault="more clients connect than --max-clients",
    outcome="the extra one gets an error event saying so and is closed",
)
def test_clients_over_the_limit_are_told_and_closed(committed_models):
    with running_server(committed_models["int8"], "--max-clients", "1") as running:
        port = running.port

        async def two():
            async with AsyncTcpClient("127.0.0.1", port) as first:
                await first.write_event(Describe().event())
                assert Info.is_type((await first.read_event()).type)  # the first is in
                async with AsyncTcpClient("127.0.0.1", port) as second:
                    return await asyncio.wait_for(second.read_event(), 5)

        refusal = asyncio.run(two())
        assert Error.from_event(refusal).code == "too-many-clients"


@pytest.mark.reliability(
    area="wyoming server",
    fault="SIGTERM while clients are connected and streaming",
    outcome="clients get an error event, the server exits 0 within a second",
)
def test_sigterm_stops_the_server_within_a_second_with_clients_told(committed_models):
    with running_server(committed_models["int8"]) as running:
        process, port = running.process, running.port

        async def streaming_when_stopped():
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
                await client.write_event(
                    AudioChunk(rate=16000, width=2, channels=1, audio=b"\0" * 3200).event()
                )
                await asyncio.sleep(0.3)
                process.send_signal(signal.SIGTERM)
                started = time.monotonic()
                told = await asyncio.wait_for(client.read_event(), 2)
                return told, started

        told, started = asyncio.run(streaming_when_stopped())
        assert process.wait(timeout=2) == 0
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, elapsed
        assert Error.from_event(told).code == "stopping"


@pytest.mark.reliability(
    area="wyoming server",
    fault="--uri not tcp:// or unix://, a port in use, --threshold 5, two models named alike",
    outcome="one line naming what is wrong, exit 2, before serving anyone",
)
def test_a_service_that_cannot_serve_says_why_in_one_line(committed_models, tmp_path):
    model = str(committed_models["int8"])
    twin = tmp_path / "other"
    twin.mkdir()
    (twin / committed_models["int8"].name).write_bytes(committed_models["int8"].read_bytes())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (["--uri", "http://example:1", "--model", model], "http://example:1"),
            (["--uri", "stdio://", "--model", model], "stdio://"),
            (["--uri", f"tcp://127.0.0.1:{port}", "--model", model], f"127.0.0.1:{port}"),
            (["--threshold", "5", "--model", model], "--threshold 5"),
            (["--model", model, str(twin / committed_models["int8"].name)], "named tiny.int8"),
        ]
        for options, named in cases:
            result = subprocess.run(
                [GRU_EDGE, "serve", *options], capture_output=True, text=True, timeout=30
            )
            assert result.returncode == 2, result.stderr
            errors = [line for line in result.stderr.splitlines() if "error" in line]
            assert len(errors) == 1 and named in errors[0], result.stderr


@pytest.mark.reliability(
    area="wyoming server",
    fault="clients that connect and never send anything (vanished peers) fill --max-clients",
    outcome="each is closed after --idle-timeout; the slot serves the next client",
)
def test_connections_that_stay_silent_are_closed_after_the_idle_timeout(committed_models):
    options = ("--max-clients", "1", "--idle-timeout", "1")
    with running_server(committed_models["int8"], *options) as running:
        port = running.port

        async def silent_then_another():
            async with AsyncTcpClient("127.0.0.1", port) as silent:
                closed = await asyncio.wait_for(silent.read_event(), 5)
                await asyncio.sleep(0.2)
            async with AsyncTcpClient("127.0.0.1", port) as later:
                await later.write_event(Describe().event())
                return closed, await asyncio.wait_for(later.read_event(), 5)

        closed, answer = asyncio.run(silent_then_another())
        assert Error.from_event(closed).code == "idle"
        assert Info.is_type(answer.type)


def test_zeroconf_announces_the_port_and_takes_another_name_when_its_own_is_used(
    committed_models,
):
    zeroconf = pytest.importorskip("zeroconf.asyncio")
    name = f"gru-edge-test-{_free_port()}"
    model = committed_models["int8"]
    with (
        running_server(model, "--zeroconf", name) as first,
        running_server(model, "--zeroconf", name) as second,
    ):
        for server in (first, second):
            while "zeroconf" not in server.said() and server.process.poll() is None:
                time.sleep(0.05)
            if "cannot announce" in server.said():
                pytest.skip(f"no multicast here: {server.said()}")
        assert f"announced as '{name}-2'" in second.said() or f"'{name} (2)'" in second.said()

        async def resolve() -> int | None:
            async with zeroconf.AsyncZeroconf() as zc:
                info = zeroconf.AsyncServiceInfo(
                    "_wyoming._tcp.local.", f"{name}._wyoming._tcp.local."
                )
                return info.port if await info.async_request(zc.zeroconf, 3000) else None

        assert asyncio.run(resolve()) == first.port
        assert first.process.poll() is None and second.process.poll() is None
