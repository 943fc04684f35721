"""The microphone path through a real audio stack: a PulseAudio server with a virtual sink is
started for the test, a recording is played into the sink, and `gru-edge listen` hears it
from the sink's monitor through sounddevice and PortAudio, as from a microphone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GRU_EDGE = str(Path(sys.executable).parent / "gru-edge")


@pytest.fixture
def audio_server(tmp_path):
    """A private PulseAudio server whose default source is the monitor of a null sink."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make test` installs pulseaudio and pulseaudio-utils")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    subprocess.run(
        [
            "pulseaudio",
            "-D",
            "--exit-idle-time=-1",
            "-n",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=kws rate=16000",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        for _ in range(50):  # the daemon answers once it is up
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-sink", "kws"], env=env, check=True)
        subprocess.run(["pactl", "set-default-source", "kws.monitor"], env=env, check=True)
        yield env
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True)


def start_listening(env: dict, *args: str) -> subprocess.Popen:
    listener = subprocess.Popen(
        [GRU_EDGE, "listen", *args, "--device", "default"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in listener.stderr:  # wait until the input stream runs
        if line.startswith("listening to"):
            return listener
    pytest.fail(f"gru-edge listen did not start: {listener.wait()}")


def test_listen_hears_words_played_into_a_virtual_microphone(
    audio_server, committed_models, yes_no, tmp_path
):
    _, wav = yes_no
    log = tmp_path / "on_detect.txt"
    listener = start_listening(
        audio_server,
        str(committed_models["int8"]),
        "--json",
        "--on-detect",
        f'echo "$GRU_EDGE_KEYWORD $GRU_EDGE_SCORE" >> {log}',
    )
    subprocess.run(["paplay", str(wav)], env=audio_server, check=True, timeout=30)
    time.sleep(1.0)
    listener.send_signal(signal.SIGINT)
    stdout, stderr = listener.communicate(timeout=30)
    assert listener.returncode == 0, stderr
    heard = [json.loads(line)["keyword"] for line in stdout.splitlines()]
    assert heard == ["yes", "no"]
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["yes", "no"]
    assert "stopped after" in stderr and "input overflows 0" in stderr


def test_a_service_manager_stops_the_listener_cleanly(audio_server, committed_models):
    listener = start_listening(audio_server, str(committed_models["float32"]))
    listener.send_signal(signal.SIGTERM)
    _, stderr = listener.communicate(timeout=30)
    assert listener.returncode == 0 and "stopped after" in stderr


def test_devices_lists_the_virtual_microphone(audio_server):
    listing = subprocess.run(
        [GRU_EDGE, "devices"], env=audio_server, capture_output=True, text=True, check=True
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
        audio_server, str(committed_models["int8"]), "--device", "no such microphone"
    )
    assert "no input device named like 'no such microphone'" in error and "'default'" in error


@pytest.mark.skipif(Path("/dev/snd").exists(), reason="this machine has sound hardware")
def test_without_any_input_device_listen_says_so(committed_models, tmp_path):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/x"}
    error = failed_listen(env, str(committed_models["int8"]))
    assert "no audio input device found" in error
