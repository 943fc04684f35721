"""Cost of `gru-edge serve`: µs of server CPU per 10 ms of audio per client, and resident
memory, with 1, 4 and 16 Wyoming clients streaming in real time over loopback; and the same
for wyoming-openwakeword, the service users compare it with, beside it in the same run.

Every run starts a server as a process of its own (`gru-edge serve`, the shipped model unless
--model; `python -m wyoming_openwakeword --preload-model ok_nabu` with the python of
--openwakeword-python), measures its CPU and memory with no client connected, then connects
the clients (the `wyoming` package's AsyncTcpClient, all on this process's one event loop).
Each sends audio-start, then the same recording (--wav, default examples/demo.wav, looped for
--seconds) as audio-chunks of --chunk samples paced at real time, then audio-stop. The
server's CPU is utime + stime of /proc/PID/stat (every thread of it) over the streaming, less
its idle rate; its memory VmRSS and RssAnon of /proc/PID/status (RssAnon: what it allocated,
without the mapped libraries and model files). Each client counts its detections (every client
should get the same; for gru_edge as many as the runtime finds in-process in the same audio),
and the pacing lag, how late each chunk left: the figures hold only if this process kept up
with real time. Writes JSON (default benchmarks/results/serve.json) and prints a markdown table.

Paced at real time, the same work costs more CPU than in a tight loop like bench_runtime.py's
(on the 2-core x86 VM this was written on, the shipped model in 1024-sample chunks: 8.2 µs per
10 ms back to back, 123 paced for one client; caches and clock speed lost between chunks, most
likely): the paced figure is the one a device running the service all day pays.

    .venv/bin/python benchmarks/bench_serve.py [--clients 1 4 16] [--seconds 60]
        [--wav WAV ...] [--model MODEL ...] [--openwakeword-python VENV/bin/python]

wyoming-openwakeword 1.8.2 goes in a venv of its own: it pins wyoming 1.2.0, and the
tflite-runtime-nightly wheel it runs on was built against numpy 1, which it does not pin. The
demo holds none of its wake words; a clip of espeak-ng saying one, streamed after the demo,
shows its detections work too:

    python3.11 -m venv benchmarks/results/venv-openwakeword
    benchmarks/results/venv-openwakeword/bin/pip install wyoming-openwakeword==1.8.2 "numpy<2"
    espeak-ng -v en-us -s 140 -w benchmarks/results/ok_nabu.wav "okay nabu. . . . . ok nabu."
    .venv/bin/python benchmarks/bench_serve.py
        --wav examples/demo.wav benchmarks/results/ok_nabu.wav
        --openwakeword-python benchmarks/results/venv-openwakeword/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import environment, write_report
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.wake import Detection

from gru_edge.audio import SAMPLE_RATE, float_to_int16, int16_to_float, read_audio
from gru_edge.errors import GruEdgeError, exit_status
from gru_edge.runtime.spotter import KeywordSpotter, default_model

DEMO_WAV = Path(__file__).resolve().parent.parent / "examples" / "demo.wav"
GRU_EDGE = Path(sys.executable).parent / "gru-edge"
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
START_SECONDS = 60  # a server that does not answer `describe` by then has failed to start
AFTER_STOP_SECONDS = 1.0  # how long the clients wait for the last detections after audio-stop
# What a server's log holds when part of it died while the process lives on (wyoming-openwakeword
# logs a thread's exception and keeps serving without it) or when it failed: a logged error,
# else a traceback; and the exception that says why.
LOG_FAILURES = ("ERROR:", "error:", "Traceback")
EXCEPTION_LINE = re.compile(r"^\w+(Error|Exception): ")


class BenchError(GruEdgeError):
    """The benchmark cannot run: a gru_edge server that does not start, an option out of range."""


class ServerFailed(Exception):
    """A server that did not start or broke while measured; the message is the reason."""


@dataclass(frozen=True)
class Server:
    """How to start one of the services compared, listening on a port."""

    name: str
    argv: list[str]

    def command(self, port: int) -> list[str]:
        return [arg.replace("{uri}", f"tcp://127.0.0.1:{port}") for arg in self.argv]


@dataclass
class ClientLog:
    """What one client saw: its detections, how late each of its chunks left."""

    detections: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads, in seconds (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as stat:
        # the fields after the command name, which may hold spaces and parentheses
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and VmHWM (peak VmRSS) of a process, in kB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "RssAnon", "VmHWM")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_failure(log: Path) -> str | None:
    """What the server's log says failed, if it says so: its first error line and the first
    exception it names."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    failed = next(
        (line for prefix in LOG_FAILURES for line in lines if line.startswith(prefix)), None
    )
    if failed is None:
        return None
    cause = next((line for line in lines if EXCEPTION_LINE.match(line)), None)
    return failed if cause is None else f"{failed} ({cause})"


async def describe(port: int) -> Info | None:
    with contextlib.suppress(OSError, TimeoutError):
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 5)
            if event is not None and Info.is_type(event.type):
                return Info.from_event(event)
    return None


@contextlib.contextmanager
def running(server: Server, log: Path):
    """The server's process once it answers `describe`; SIGTERM (then SIGKILL) at the end."""
    port = free_port()
    command = server.command(port)
    with open(log, "w") as out:
        try:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        except OSError as e:
            raise ServerFailed(f"cannot run {command[0]}: {e.strerror or e}") from None
    try:
        deadline = time.monotonic() + START_SECONDS
        while asyncio.run(describe(port)) is None:
            if process.poll() is not None:
                raise ServerFailed(
                    f"exited with status {process.returncode} before serving: "
                    f"{log_failure(log) or log.read_text(errors='replace').strip()[-300:]}"
                )
            if time.monotonic() > deadline:
                raise ServerFailed(f"did not answer `describe` within {START_SECONDS} s")
            time.sleep(0.2)
        yield process, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def looped(audio: np.ndarray, chunk: int, seconds: float) -> np.ndarray:
    """The recording as 16-bit PCM repeated for `seconds`, in whole chunks."""
    total = int(round(seconds * SAMPLE_RATE / chunk)) * chunk
    return np.resize(float_to_int16(audio), total).astype("<i2")


def chunk_events(pcm: np.ndarray, chunk: int) -> list[Event]:
    """The audio-chunk events of `pcm`, each with its time in the client's audio (made once:
    every client sends the same events)."""
    return [
        AudioChunk(
            rate=SAMPLE_RATE,
            width=2,
            channels=1,
            audio=pcm[at : at + chunk].tobytes(),
            timestamp=at * 1000 // SAMPLE_RATE,
        ).event()
        for at in range(0, len(pcm), chunk)
    ]


async def read_detections(client: AsyncTcpClient, log: ClientLog) -> None:
    while (event := await client.read_event()) is not None:
        if Detection.is_type(event.type):
            detection = Detection.from_event(event)
            log.detections.append((detection.name, detection.timestamp))
        elif Error.is_type(event.type):
            log.errors.append(Error.from_event(event).text)


async def stream_all(port: int, clients: int, events: list[Event], chunk: int, pid: int) -> dict:
    """`clients` clients at once, each sending `events` at real time, their starts spread
    over one chunk's time; the server's CPU and peak memory over the streaming."""
    loop = asyncio.get_running_loop()
    period = chunk / SAMPLE_RATE
    logs = [ClientLog() for _ in range(clients)]
    async with contextlib.AsyncExitStack() as stack:
        connected = [
            await stack.enter_async_context(AsyncTcpClient("127.0.0.1", port))
            for _ in range(clients)
        ]
        for client in connected:
            await client.write_event(AudioStart(rate=SAMPLE_RATE, width=2, channels=1).event())
        readers = [
            asyncio.create_task(read_detections(client, log))
            for client, log in zip(connected, logs, strict=True)
        ]
        peak = memory_kb(pid)
        start = loop.time() + 0.2
        cpu_start, own_start = cpu_seconds(pid), time.process_time()

        async def send(client: AsyncTcpClient, log: ClientLog, offset: float) -> None:
            for k, event in enumerate(events):
                due = start + offset + k * period
                await asyncio.sleep(due - loop.time())
                log.lags.append(loop.time() - due)
                await client.write_event(event)

        async def sample_memory() -> None:
            while True:
                await asyncio.sleep(1.0)
                for key, value in memory_kb(pid).items():
                    peak[key] = max(peak[key], value)

        sampler = asyncio.create_task(sample_memory())
        await asyncio.gather(
            *(
                send(client, log, period * i / clients)
                for i, (client, log) in enumerate(zip(connected, logs, strict=True))
            )
        )
        await asyncio.sleep(period)  # the server reads and handles the last chunks
        elapsed = loop.time() - start
        cpu = cpu_seconds(pid) - cpu_start
        own_cpu = time.process_time() - own_start
        sampler.cancel()
        streaming = memory_kb(pid)
        for client in connected:
            await client.write_event(AudioStop().event())
        await asyncio.sleep(AFTER_STOP_SECONDS)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "own_cpu": own_cpu,
        "streaming": streaming,
        "peak": peak,
        "logs": logs,
    }


def still_serving(process: subprocess.Popen, log: Path) -> None:
    """Raises ServerFailed if the server has exited or logged a failure."""
    failure = log_failure(log)
    if failure is not None or process.poll() is not None:
        raise ServerFailed(failure or f"exited with status {process.returncode}")


def measure(server: Server, clients: int, events: list[Event], args, log: Path) -> dict:
    """One server process, `clients` clients: CPU and memory idle, then streaming."""
    with running(server, log) as (process, port):
        try:
            time.sleep(1.0)  # the start-up probe's connection is let go
            idle_start, idle_wall = cpu_seconds(process.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            idle_rate = (cpu_seconds(process.pid) - idle_start) / (time.monotonic() - idle_wall)
            idle = memory_kb(process.pid)
            load = os.getloadavg()[0]
            still_serving(process, log)
            run = asyncio.run(stream_all(port, clients, events, args.chunk, process.pid))
        except OSError as e:  # the connection or the process gone
            still_serving(process, log)
            raise ServerFailed(f"lost while measured: {e}") from None
        still_serving(process, log)
    audio_seconds = len(events) * args.chunk / SAMPLE_RATE
    busy = max(run["cpu"] - idle_rate * run["elapsed"], 0.0)
    lags_ms = np.concatenate([log.lags for log in run["logs"]]) * 1000
    anon_per_client = (run["streaming"]["RssAnon"] - idle["RssAnon"]) / clients
    return {
        "server": server.name,
        "clients": clients,
        "audio_seconds_per_client": audio_seconds,
        "streaming_wall_seconds": round(run["elapsed"], 2),
        "cpu_seconds": round(run["cpu"], 3),
        "idle_cpu_percent": round(100 * idle_rate, 3),
        "us_per_10ms_per_client": round(busy / (clients * audio_seconds * 100) * 1e6, 1),
        "cpu_percent_of_a_core": round(100 * busy / run["elapsed"], 2),
        "memory_kb_0_clients": idle,
        "memory_kb_streaming": run["streaming"],
        "memory_kb_peak_streaming": run["peak"],
        "rss_anon_kb_per_client": round(anon_per_client, 1),
        "detections_per_client": [len(log.detections) for log in run["logs"]],
        "detections_first_client": run["logs"][0].detections,
        "errors_sent_to_clients": sorted({e for log in run["logs"] for e in log.errors}),
        "pacing_lag_ms": {
            "p50": round(float(np.percentile(lags_ms, 50)), 2),
            "p99": round(float(np.percentile(lags_ms, 99)), 2),
            "max": round(float(lags_ms.max()), 2),
        },
        "kept_up_with_real_time": bool(lags_ms.max() < 1000 * args.chunk / SAMPLE_RATE),
        "client_process_cpu_percent": round(100 * run["own_cpu"] / run["elapsed"], 1),
        "load_average_1min_before": round(load, 2),
    }


def expected_detections(models: list[Path], pcm: np.ndarray) -> int:
    """How many keywords the runtime finds in-process in the audio every client sends."""
    samples = int16_to_float(pcm)
    return sum(len(KeywordSpotter(model).process(samples).detections) for model in models)


def servers(args) -> tuple[list[Server], dict]:
    """The servers to measure, and what became of wyoming-openwakeword."""
    gru_edge = Server(
        "gru_edge",
        [str(GRU_EDGE), "serve", "--uri", "{uri}", "--max-clients", str(max(args.clients) + 1)]
        + (["--model", *map(str, args.model)] if args.model else []),
    )
    if args.openwakeword_python is None:
        return [gru_edge], {"measured": False, "reason": "no --openwakeword-python given"}
    if not os.access(args.openwakeword_python, os.X_OK):
        raise BenchError(
            f"--openwakeword-python {args.openwakeword_python}: not an executable; make the venv "
            "as this benchmark's docstring says, or leave the option out"
        )
    openwakeword = Server(
        "wyoming-openwakeword",
        [
            str(args.openwakeword_python),
            "-m",
            "wyoming_openwakeword",
            "--uri",
            "{uri}",
            "--preload-model",
            args.openwakeword_model,
        ],
    )
    version = subprocess.run(
        [
            str(args.openwakeword_python),
            "-c",
            "from importlib.metadata import version as v; "
            "print(v('wyoming-openwakeword'), v('wyoming'), v('numpy'))",
        ],
        capture_output=True,
        text=True,
    )
    if version.returncode != 0:
        reason = (version.stderr.strip().splitlines() or ["no output"])[-1]
        return [gru_edge], {"measured": False, "reason": f"not installed there: {reason}"}
    package, wyoming, numpy = version.stdout.split()
    return [gru_edge, openwakeword], {
        "measured": True,
        "version": package,
        "wyoming": wyoming,
        "numpy": numpy,
        "model": args.openwakeword_model,
    }


def source_revision() -> str | None:
    """The commit of the gru_edge checkout measured, and whether it had changes (each run
    starts `gru-edge serve` afresh from the checkout, so a commit during the run shows)."""
    try:
        describe = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
        )
    except OSError:  # no git here: a copy of the files, not a checkout
        return None
    return describe.stdout.strip() or None


def bench(args) -> None:
    if min(args.clients) < 1 or args.seconds <= 0 or args.chunk < 1:
        raise BenchError("--clients, --seconds and --chunk must be positive")
    pcm = looped(np.concatenate([read_audio(path) for path in args.wav]), args.chunk, args.seconds)
    events = chunk_events(pcm, args.chunk)
    models = args.model or [default_model()]
    expected = expected_detections(models, pcm)
    compared, openwakeword = servers(args)
    revision = source_revision()
    results, failed = [], set()
    with tempfile.TemporaryDirectory() as logs:
        for clients in args.clients:  # the servers in turn at each count: alike in the load
            for server in (s for s in compared if s.name not in failed):
                log = Path(logs) / f"{server.name}-{clients}.log"
                print(f"{server.name}, {clients} client(s), {args.seconds:g} s ...", flush=True)
                try:
                    result = measure(server, clients, events, args, log)
                except ServerFailed as e:
                    if server.name == "gru_edge":
                        raise BenchError(f"gru-edge serve failed: {e}") from None
                    openwakeword["reason"] = f"its server failed with {clients} client(s): {e}"
                    failed.add(server.name)
                    continue
                if server.name == "gru_edge":
                    result["detections_as_in_process"] = all(
                        n == expected for n in result["detections_per_client"]
                    )
                results.append(result)
    openwakeword["measured"] = any(r["server"] == "wyoming-openwakeword" for r in results)
    report = {
        "benchmark": "Wyoming wake-word servers, clients streaming in real time over loopback",
        **environment(),
        "gru_edge_revision": revision,
        "gru_edge_revision_at_end": source_revision(),
        "recording": " + ".join(path.name for path in args.wav),
        "audio_seconds_per_client": len(events) * args.chunk / SAMPLE_RATE,
        "chunk_samples": args.chunk,
        "idle_seconds": args.idle_seconds,
        "cpu_clock_ticks_per_second": TICKS_PER_SECOND,
        "cpus": os.cpu_count(),
        "gru_edge_models": [Path(m).name for m in models],
        "gru_edge_expected_detections_per_client": expected,
        "wyoming_openwakeword": openwakeword,
        "results": results,
        "rss_anon_kb_per_extra_client": per_extra_client(results),
    }
    write_report(args.json, report)
    print_table(report)
    if report["gru_edge_revision_at_end"] != revision:
        print(
            f"warning: the checkout moved from {revision} to "
            f"{report['gru_edge_revision_at_end']} during the run: runs differ in their code"
        )
    print(f"wrote {args.json}")


def per_extra_client(results: list[dict]) -> dict[str, float]:
    """Growth of RssAnon with each client from the fewest clients run to the most, per server
    (each run's streaming memory less its own idle memory, to leave out what differs between
    processes)."""
    growth = {}
    for name in dict.fromkeys(r["server"] for r in results):
        runs = sorted((r for r in results if r["server"] == name), key=lambda r: r["clients"])
        first, last = runs[0], runs[-1]
        if last["clients"] > first["clients"]:
            added = [
                r["memory_kb_streaming"]["RssAnon"] - r["memory_kb_0_clients"]["RssAnon"]
                for r in (first, last)
            ]
            growth[name] = round((added[1] - added[0]) / (last["clients"] - first["clients"]), 1)
    return growth


def print_table(report: dict) -> None:
    expected = report["gru_edge_expected_detections_per_client"]
    print(
        f"{report['audio_seconds_per_client']:.0f} s of {report['recording']} per client in "
        f"{report['chunk_samples']}-sample chunks; gru_edge in-process finds {expected} "
        "keywords in it"
    )
    print(
        "| server | clients | µs CPU / 10 ms / client | CPU % of a core | RSS / anon MB, "
        "0 clients | streaming | anon kB per client | detections per client | "
        "pacing lag p99 / max ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in report["results"]:
        idle, streaming = r["memory_kb_0_clients"], r["memory_kb_streaming"]
        counts = sorted(set(r["detections_per_client"]))
        detections = f"{counts[0]}, every client" if len(counts) == 1 else f"{counts} differ"
        if r.get("detections_as_in_process"):
            detections += ", as in-process"
        lag = r["pacing_lag_ms"]
        print(
            f"| {r['server']} | {r['clients']} | {r['us_per_10ms_per_client']:.1f} | "
            f"{r['cpu_percent_of_a_core']:.2f} | "
            f"{idle['VmRSS'] / 1024:.1f} / {idle['RssAnon'] / 1024:.1f} | "
            f"{streaming['VmRSS'] / 1024:.1f} / {streaming['RssAnon'] / 1024:.1f} | "
            f"{r['rss_anon_kb_per_client']:.0f} | {detections} | "
            f"{lag['p99']:.1f} / {lag['max']:.1f} |"
        )
    openwakeword = report["wyoming_openwakeword"]
    if "reason" in openwakeword:
        print(f"| wyoming-openwakeword | - | not measured: {openwakeword['reason']} |||||||")
    for name, kb in report["rss_anon_kb_per_extra_client"].items():
        print(f"{name}: RssAnon grows {kb:.0f} kB per extra client streaming")
    for r in report["results"]:
        if not r["kept_up_with_real_time"]:
            print(
                f"warning: {r['server']} with {r['clients']} clients: the clients fell behind "
                f"real time (a chunk {r['pacing_lag_ms']['max']:.0f} ms late)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per client")
    parser.add_argument("--chunk", type=int, default=1024, help="samples per audio-chunk")
    parser.add_argument(
        "--wav",
        type=Path,
        nargs="+",
        default=[DEMO_WAV],
        help="the recording streamed, these files one after the other (default: the demo's)",
    )
    parser.add_argument("--model", type=Path, nargs="+", help="gru_edge models (default: shipped)")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="the servers' idle CPU is measured this long with no client",
    )
    parser.add_argument(
        "--openwakeword-python",
        type=Path,
        help="python of a venv with wyoming-openwakeword (absent: gru_edge only)",
    )
    parser.add_argument(
        "--openwakeword-model",
        default="ok_nabu",
        help="wyoming-openwakeword's --preload-model (default: ok_nabu)",
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/serve.json"))
    args = parser.parse_args()
    return exit_status(lambda: bench(args), "bench_serve")


if __name__ == "__main__":
    sys.exit(main())
