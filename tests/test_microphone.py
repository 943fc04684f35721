"""The microphone path through a real audio stack: a PulseAudio server with a virtual sink is
started for the test, a recording is played into the sink, and `gru-edge listen` hears it
from the sink's monitor through sounddevice and PortAudio, as from a microphone.

The server is the test's own child, so that a test can kill it, freeze it (SIGSTOP), take its
device away and start it again on the same socket: what happens to the audio stack of a device
left alone for months. The times the tests measure are printed (`pytest -s` shows them)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from processes import running, still_running
from signals import write_wav

GRU_EDGE = str(Path(sys.executable).parent / "gru-edge")


class AudioServer:
    """A private PulseAudio server whose default source is the monitor of a null sink."""

    def __init__(self, runtime_dir: Path) -> None:
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "pulseaudio",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "-n",
                "--load=module-native-protocol-unix",
                "--load=module-null-sink sink_name=kws rate=16000",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):  # the server answers once it is up
            if self.pactl("info", check=False).returncode == 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("pulseaudio did not start")
        self.pactl("set-default-sink", "kws")
        self.pactl("set-default-source", "kws.monitor")

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, check=check)

    def play(self, wav: Path) -> None:
        subprocess.run(["paplay", str(wav)], env=self.env, check=True, timeout=30)

    def start_playing(self, wav: Path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", str(wav)], env=self.env)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def unplug(self) -> None:
        """The microphone goes away: the null sink, and with it its monitor, is removed."""
        self.pactl("unload-module", "module-null-sink")

    def plug(self) -> None:
        self.pactl("load-module", "module-null-sink", "sink_name=kws", "rate=16000")
        self.pactl("set-default-source", "kws.monitor")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def audio_server(tmp_path):
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make test` installs pulseaudio and pulseaudio-utils")
    server = AudioServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Lines:
    """The lines of a pipe as they come, each with the time it came (read by a thread)."""

    def __init__(self, pipe) -> None:
        self.lines: list[tuple[float, str]] = []
        self.closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in pipe:
            with self._changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def first(self, text: str, timeout: float) -> float | None:
        """When the first line holding `text` came; None when none came within `timeout` s or
        before the pipe closed."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed or self.times(text), timeout)
            times = self.times(text)
        return times[0] if times else None

    def wait_for(self, text: str, timeout: float) -> float:
        """When the first line holding `text` came; fails when none came within `timeout` s."""
        when = self.first(text, timeout)
        if when is None:
            pytest.fail(f"no line with {text!r} within {timeout} s in:\n{self.text}")
        return when

    def wait_closed(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.closed, 5)

    def times(self, text: str) -> list[float]:
        return [when for when, line in self.lines if text in line]

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


class Listener:
    """`gru-edge listen ARGS --device default -v`, running until audio flows."""

    def __init__(self, env: dict, *args: str) -> None:
        self.process = subprocess.Popen(
            [GRU_EDGE, "listen", *args, "--device", "default", "-v"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout = Lines(self.process.stdout)
        self.stderr = Lines(self.process.stderr)
        self.exited: float | None = None
        self.stderr.wait_for("listening to", 60)
        self.stderr.wait_for("audio is flowing", 10)

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> tuple[int, float]:
        """Sends `signum`: the exit status and how long the exit took."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        status = self.ended(timeout)
        return status, self.exited - sent

    def ended(self, timeout: float = 30) -> int:
        """Waits for the exit (and for all it wrote to be read): the exit status; `exited`
        is when it exited."""
        status = self.process.wait(timeout)
        self.exited = time.monotonic()
        self.stdout.wait_closed()
        self.stderr.wait_closed()
        return status

    def detections(self) -> list[str]:
        return [json.loads(line)["keyword"] for _, line in self.stdout.lines]


@pytest.fixture
def listen(audio_server):
    """Starts `gru-edge listen` against the audio server; kills what is left at the end."""
    started: list[Listener] = []

    def start(*args: str) -> Listener:
        started.append(Listener(audio_server.env, *args))
        return started[-1]

    yield start
    for listener in started:
        if listener.process.poll() is None:
            listener.process.kill()
            listener.process.wait()


def test_listen_hears_words_played_into_a_virtual_microphone(
    audio_server, listen, committed_models, yes_no, tmp_path
):
    _, wav = yes_no
    log = tmp_path / "on_detect.txt"
    listener = listen(
        str(committed_models["int8"]),
        "--json",
        "--on-detect",
        f'echo "$GRU_EDGE_KEYWORD $GRU_EDGE_SCORE" >> {log}',
    )
    audio_server.play(wav)
    time.sleep(1.0)
    status, _ = listener.stop(signal.SIGINT)
    assert status == 0, listener.stderr.text
    assert listener.detections() == ["yes", "no"]
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["yes", "no"]
    assert "stopped after" in listener.stderr.text
    assert "input overflows 0" in listener.stderr.text


def test_a_service_manager_stops_the_listener_cleanly(listen, committed_models):
    listener = listen(str(committed_models["float32"]))
    status, _ = listener.stop(signal.SIGTERM)
    assert status == 0 and "stopped after" in listener.stderr.text


def test_devices_lists_the_virtual_microphone(audio_server):
    listing = subprocess.run(
        [GRU_EDGE, "devices"], env=audio_server.env, capture_output=True, text=True, check=True
    ).stdout
    assert "default" in listing and "pulse" in listing


def failed_listen(env: dict, *args: str) -> str:
    """The error `gru-edge listen` ends with: status 2, one clear line, no traceback."""
    result = subprocess.run(
        [GRU_EDGE, "listen", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    return result.stderr


def test_an_unknown_device_is_named_with_the_ones_there_are(audio_server, committed_models):
    error = failed_listen(
        audio_server.env, str(committed_models["int8"]), "--device", "no such microphone"
    )
    assert "no input device named like 'no such microphone'" in error and "'default'" in error


@pytest.mark.skipif(Path("/dev/snd").exists(), reason="this machine has sound hardware")
def test_without_any_input_device_listen_says_so(committed_models, tmp_path):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/x"}
    error = failed_listen(env, str(committed_models["int8"]))
    assert "no audio input device found" in error


def the_error(listener: Listener) -> str:
    """The one line `listen` failed with, after no traceback."""
    assert "Traceback" not in listener.stderr.text
    errors = [line for _, line in listener.stderr.lines if line.startswith("gru-edge: error:")]
    assert len(errors) == 1, listener.stderr.text
    return errors[0]


@pytest.mark.reliability(
    area="microphone",
    fault="audio server killed while listening",
    outcome="one line: the input stream ended; exit 2 within 5 s, so systemd restarts it",
)
def test_listen_fails_when_the_audio_server_dies(audio_server, listen, committed_models):
    listener = listen(str(committed_models["int8"]))
    killed = time.monotonic()
    audio_server.kill()
    status = listener.ended(timeout=30)
    took = listener.exited - killed
    print(f"\naudio server killed: listen exited with status {status} after {took:.2f} s")
    assert status == 2 and took < 5, listener.stderr.text
    assert "input stream of microphone 'default'" in the_error(listener)


@pytest.mark.reliability(
    area="microphone",
    fault="audio server killed, then started again, with --reconnect",
    outcome="says the stream ended, re-opens it within 5 s, hears words again",
)
def test_listen_reconnects_when_the_audio_server_comes_back(
    audio_server, listen, committed_models, yes_no
):
    listener = listen(str(committed_models["int8"]), "--json", "--reconnect")
    killed = time.monotonic()
    audio_server.kill()
    audio_server.start()
    back = listener.stderr.wait_for("audio is back", 30) - killed
    print(f"\naudio server killed and started again: audio back after {back:.2f} s")
    assert back < 5
    assert listener.stderr.times("input stream of microphone 'default'")
    audio_server.play(yes_no[1])
    time.sleep(1.0)
    status, _ = listener.stop(signal.SIGINT)
    assert status == 0 and listener.detections() == ["yes", "no"]
    assert "reconnects 1" in listener.stderr.text


@pytest.mark.reliability(
    area="microphone",
    fault="audio server killed and never back, with --reconnect",
    outcome="tries again with backoff for --reconnect-for s, then one line, exit 2",
)
def test_listen_gives_up_reconnecting_after_a_while(audio_server, listen, committed_models):
    listener = listen(str(committed_models["int8"]), "--reconnect", "--reconnect-for", "2")
    killed = time.monotonic()
    audio_server.kill()
    status = listener.ended(timeout=30)
    took = listener.exited - killed
    print(f"\naudio server gone for good: listen gave up after {took:.2f} s")
    assert status == 2 and 2 <= took < 5
    assert "giving up" in the_error(listener)


@pytest.mark.reliability(
    area="microphone",
    fault="the input device removed while listening, later back, with --reconnect",
    outcome="says it is lost; re-opens it when back, or exits 2 if PortAudio keeps the old one",
)
def test_a_microphone_that_goes_away_and_comes_back_is_reopened(
    audio_server, listen, committed_models
):
    listener = listen(str(committed_models["int8"]), "--reconnect", "--watchdog", "2")
    audio_server.unplug()
    # PortAudio ends the stream, or keeps it without audio (the watchdog's case)
    lost = listener.stderr.wait_for("re-opening it", 10)
    time.sleep(1.5)  # long enough for re-opening to fail at least once
    plugged = time.monotonic()
    audio_server.plug()
    back = listener.stderr.first("audio is back", 30)
    if back is None:  # PortAudio would not let go of the lost stream: a fresh start is due
        status = listener.ended()
        print(f"\nmicrophone gone: PortAudio kept the lost stream, listen exited {status}")
        assert status == 2 and "PortAudio did not let go of it" in the_error(listener)
        return
    print(f"\nmicrophone back: audio {back - plugged:.2f} s after (gone {plugged - lost:.1f} s)")
    status, _ = listener.stop(signal.SIGTERM)
    assert status == 0 and "reconnects 1" in listener.stderr.text, listener.stderr.text


@pytest.mark.reliability(
    area="microphone",
    fault="audio server frozen (SIGSTOP): no audio arrives",
    outcome="the watchdog says no audio came for --watchdog s; exit 2",
)
def test_the_watchdog_says_when_audio_stops_arriving(audio_server, listen, committed_models):
    listener = listen(str(committed_models["int8"]), "--watchdog", "2")
    frozen = time.monotonic()
    audio_server.freeze()
    status = listener.ended(timeout=30)
    took = listener.exited - frozen
    print(f"\naudio server frozen: the watchdog ended listen after {took:.2f} s")
    assert status == 2 and took < 4
    assert "no audio from microphone 'default' at 16000 Hz for 2 s" in the_error(listener)


@pytest.mark.reliability(
    area="microphone",
    fault="audio server frozen, later thawed (SIGCONT), with --reconnect",
    outcome="says no audio came, re-opens the device once it answers, says audio is back",
)
def test_a_frozen_audio_server_that_thaws_is_reconnected(audio_server, listen, committed_models):
    listener = listen(str(committed_models["int8"]), "--watchdog", "2", "--reconnect")
    audio_server.freeze()
    listener.stderr.wait_for("no audio from microphone 'default'", 10)
    thawed = time.monotonic()
    audio_server.thaw()
    back = listener.stderr.wait_for("audio is back", 30) - thawed
    print(f"\naudio server thawed: audio back after {back:.2f} s")
    status, took = listener.stop(signal.SIGTERM)
    assert status == 0 and took < 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.reliability(
    area="microphone",
    fault="audio server frozen (SIGSTOP), then SIGTERM or SIGINT",
    outcome="exits 0 within 1 s (a clean stop for systemd), PortAudio's close left behind",
)
def test_a_frozen_audio_server_does_not_keep_listen_from_stopping(
    audio_server, listen, committed_models, signum
):
    listener = listen(str(committed_models["int8"]))
    audio_server.freeze()
    time.sleep(0.5)
    status, took = listener.stop(signum, timeout=30)
    print(f"\naudio server frozen: {signal.Signals(signum).name} ended listen in {took:.2f} s")
    assert status == 0 and took < 1


@pytest.mark.reliability(
    area="microphone",
    fault="audio server frozen before listen starts, then SIGTERM",
    outcome="exits 0 within 1 s, although PortAudio never finished starting",
)
def test_listen_started_against_a_frozen_audio_server_still_stops(audio_server, committed_models):
    audio_server.freeze()
    listener = subprocess.Popen(
        [GRU_EDGE, "listen", str(committed_models["int8"]), "--device", "default"],
        env=audio_server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4.0)  # past the model, into PortAudio's start, which waits on the server
        sent = time.monotonic()
        listener.send_signal(signal.SIGTERM)
        status = listener.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        listener.kill()
        stderr = listener.communicate()[1]
    print(f"\naudio server frozen from the start: SIGTERM ended listen in {took:.2f} s")
    assert status == 0 and took < 1, stderr


def halves(yes_no, tmp_path) -> tuple[Path, Path]:
    """The yes-no recording cut in two: a WAV of "yes" and one of "no"."""
    samples, _ = yes_no
    middle = len(samples) // 2
    return (
        write_wav(tmp_path / "yes.wav", samples[:middle]),
        write_wav(tmp_path / "no.wav", samples[middle:]),
    )


@pytest.mark.reliability(
    area="hooks",
    fault="--on-detect command prints to stdout and exits 3, with --json",
    outcome="its output goes to stderr, stdout stays JSON; the failure is logged with the keyword",
)
def test_what_a_hook_prints_or_how_it_fails_stays_off_the_detections(
    audio_server, listen, committed_models, yes_no
):
    listener = listen(
        str(committed_models["int8"]),
        "--json",
        "--on-detect",
        'echo "hook heard $GRU_EDGE_KEYWORD"; exit 3',
    )
    audio_server.play(yes_no[1])
    listener.stderr.wait_for("'no'", 10)
    status, _ = listener.stop(signal.SIGINT)
    assert status == 0 and listener.detections() == ["yes", "no"]
    for keyword in ("yes", "no"):
        assert f"hook heard {keyword}" in listener.stderr.text
        (failure,) = [line for _, line in listener.stderr.lines if f"'{keyword}'" in line]
        assert "exit status 3" in failure


@pytest.mark.reliability(
    area="hooks",
    fault="--on-detect command hangs, with a child of its own",
    outcome="its process group is killed at --on-detect-limit; logged with the keyword",
)
@pytest.mark.reliability(
    area="hooks",
    fault="listen stopped while a --on-detect command runs",
    outcome="the command and its children are killed: none outlives listen",
)
def test_hooks_are_killed_at_their_time_limit_and_when_listen_stops(
    audio_server, listen, committed_models, yes_no, tmp_path
):
    yes, no = halves(yes_no, tmp_path)
    pids = tmp_path / "pids"
    listener = listen(
        str(committed_models["int8"]),
        "--json",
        "--on-detect",
        f'sleep 60 & echo "$GRU_EDGE_KEYWORD $$ $!" >> {pids}; wait',
        "--on-detect-limit",
        "1",
    )

    def started(keyword: str) -> list[int]:
        """The shell of the hook run for `keyword` and its child, once it has written them."""
        for _ in range(100):
            text = pids.read_text() if pids.exists() else ""
            lines = [line.split() for line in text.splitlines()]
            group = [int(pid) for word, *ids in lines if word == keyword for pid in ids]
            if group:
                return group
            time.sleep(0.05)
        pytest.fail(f"the hook for {keyword!r} did not start")

    audio_server.play(yes)
    heard = listener.stdout.wait_for("yes", 10)
    killed = listener.stderr.wait_for("'yes'", 10)
    print(f"\na hanging hook was killed {killed - heard:.2f} s after its detection (limit 1 s)")
    assert "1 s" in listener.stderr.text and not still_running(started("yes"))
    assert listener.process.poll() is None

    playing = audio_server.start_playing(no)
    listener.stdout.wait_for("no", 10)
    assert running(started("no"))  # within its limit
    status, took = listener.stop(signal.SIGTERM)
    playing.wait(timeout=30)
    print(f"listen stopped with a hook running in {took:.2f} s")
    assert status == 0 and took < 1
    assert not still_running(started("no"))


FALLING_BEHIND = """
import logging, sys, time
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
from gru_edge.runtime.microphone import MicrophoneSource
with MicrophoneSource("default", queue_seconds=0.3) as source:
    blocks = iter(source)
    next(blocks)
    time.sleep(1.5)  # the spotter falls behind: nobody reads
    for _ in range(8):
        next(blocks)
    print(source.dropped)
"""


@pytest.mark.reliability(
    area="microphone",
    fault="the spotter falls behind (nothing read for 1.5 s, a 0.3 s queue)",
    outcome="blocks beyond the queue dropped and counted, a warning says so; audio goes on",
)
def test_a_spotter_that_falls_behind_drops_blocks_and_says_so(audio_server):
    result = subprocess.run(
        [sys.executable, "-c", FALLING_BEHIND],
        env=audio_server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 5, result.stdout  # about 12 blocks came while nobody read
    assert "audio lost:" in result.stderr and "dropped (the spotter fell behind)" in result.stderr
