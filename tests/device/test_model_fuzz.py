"""The model loader over damaged model files: truncated at random points, bits flipped
anywhere, random bytes after the magic, metadata that is not UTF-8. Nothing but a
ModelFileError comes out (one line naming the file and what to do), the process never
crashes, and a file that loads is byte for byte the one its checksum vouches for. A file
without a checksum (exported before gru_edge wrote one) is loaded in a child process first:
both interpreters crash on some damaged files (tflite-runtime 2.14 on most of them), and the
crash stays in the child. Base install only: random mutations from numpy, no hypothesis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_files import BARE_LOAD, huge_scale, metadata_range, python_starts, without_checksum
from signals import write_wav

from gru_edge.cli import main
from gru_edge.modelfile import ModelFileError
from gru_edge.runtime.interpreter import interpreter_module
from gru_edge.runtime.stream import StreamingModel

pytestmark = pytest.mark.device

# Under user-mode emulation without binfmt (tools/pi_check.py) no child Python starts.
needs_children = pytest.mark.skipif(not python_starts(), reason="no child Python starts here")
CASES = 100  # per committed model and kind of damage: 800 files in all, about a second
CHILD_CASES = 12  # files without a checksum: a process each, and its child (~0.4 s each)


def truncated(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: rng.integers(0, len(data))]


def flipped(data: bytes, rng: np.random.Generator) -> bytes:
    damaged = bytearray(data)
    for at in rng.integers(0, len(data), rng.integers(1, 4)):
        damaged[at] ^= 1 << rng.integers(0, 8)
    return bytes(damaged)


def garbage_after_magic(data: bytes, rng: np.random.Generator) -> bytes:
    return data[:8] + rng.bytes(rng.integers(0, len(data)))


def metadata_not_utf8(data: bytes, rng: np.random.Generator) -> bytes:
    start, end = metadata_range(data)
    at = rng.integers(start, end)
    return data[:at] + bytes([rng.choice([0x80, 0xC3, 0xFE, 0xFF])]) + data[at + 1 :]


DAMAGE = [truncated, flipped, garbage_after_magic, metadata_not_utf8]


def load(path: Path) -> str:
    """ "loaded", or the message of the ModelFileError the loader raised; anything else (an
    exception of another type, a crash) fails the test."""
    try:
        StreamingModel(path)
    except ModelFileError as e:
        message = str(e)
        assert "\n" not in message and message.startswith(f"{path}: ") and "export" in message
        return message
    return "loaded"


@pytest.mark.parametrize("quantization", ["float32", "int8"])
@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__)
@pytest.mark.reliability(
    area="model file",
    fault="fuzz: truncated, bits flipped, garbage after the magic, metadata not UTF-8",
    outcome="ModelFileError naming the file, or a load of the bytes its checksum vouches for",
)
def test_damaged_files_are_refused_in_one_line_or_are_the_original(
    committed_models, tmp_path, damage, quantization
):
    original = committed_models[quantization].read_bytes()
    path = tmp_path / "damaged.tflite"
    rng = np.random.default_rng(DAMAGE.index(damage))
    refused = 0
    for _ in range(CASES):
        damaged = damage(original, rng)
        path.write_bytes(damaged)
        if load(path) == "loaded":
            assert damaged == original, "a damaged file loaded"
        else:
            refused += 1
    assert refused >= CASES * 0.9  # the mutations do damage (a double flip can undo itself)


@pytest.mark.reliability(
    area="model file",
    fault="bits flipped in a file without a checksum (an older export)",
    outcome="a warning; loaded in a child process first, a crash there is refused",
)
@needs_children
def test_files_without_a_checksum_are_tried_in_a_child_process_first(committed_models, tmp_path):
    """Each file in a `gru-edge info` of its own: a damaged file that an interpreter loads
    can corrupt its memory, and this process goes on to load others."""
    backend = interpreter_module()[0]
    if backend == "tflite_runtime":
        pytest.skip(
            "tflite-runtime 2.14 verifies nothing: a flipped offset makes it read outside the "
            "file, differently in each process (1 in 150 random flips crashed a process after "
            "its child had loaded the file); the checksum is what protects such files"
        )
    original = without_checksum(committed_models["int8"].read_bytes())
    start, end = metadata_range(original)
    path = tmp_path / "older.tflite"
    rng = np.random.default_rng(0)
    outcomes = []
    for _ in range(CHILD_CASES):
        damaged = bytearray(original)
        at = rng.choice([rng.integers(8, start), rng.integers(end, len(original))])
        damaged[at] ^= 1 << rng.integers(0, 8)  # outside the metadata: the loader reads it
        path.write_bytes(damaged)
        info = subprocess.run(
            [sys.executable, "-m", "gru_edge.cli", "info", str(path)],
            capture_output=True,
            text=True,
        )
        err = info.stderr.splitlines()
        assert f"{path}: carries no checksum" in info.stderr
        assert info.returncode in (0, 2), info.stderr
        if info.returncode == 2:
            assert err[-1].startswith(f"gru-edge: error: {path}: ") and "export" in err[-1]
        outcomes.append(err[-1] if info.returncode else "loaded")
    assert any(outcome != "loaded" for outcome in outcomes)  # the damage is noticed


@pytest.mark.reliability(
    area="model file",
    fault="a quantization scale damaged so that the interpreter aborts",
    outcome="refused by the checksum; without one the abort stays in a child, exit 2",
)
@needs_children
def test_a_file_that_crashes_the_interpreter_never_crashes_gru_edge(
    committed_models, tmp_path, capsys
):
    sealed = huge_scale(committed_models["int8"].read_bytes())
    (tmp_path / "sealed.tflite").write_bytes(sealed)
    older = tmp_path / "older.tflite"
    older.write_bytes(without_checksum(sealed))
    bare = subprocess.run([sys.executable, "-c", BARE_LOAD, str(older)], capture_output=True)
    assert bare.returncode < 0, "the interpreter no longer crashes on it: damage it otherwise"
    assert "do not match its checksum" in load(tmp_path / "sealed.tflite")
    assert "crashed" in load(older)
    assert main(["info", str(older)]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"gru-edge: error: {older}: ") and "re-export" in last


@pytest.mark.parametrize(
    "command", [["info", "{model}"], ["stream", "{model}", "{wav}"], ["listen", "{model}"]]
)
@pytest.mark.reliability(
    area="model file",
    fault="a model cut to half its size, given to info, stream or listen",
    outcome="one line naming the file and what to do, exit 2, before any invoke",
)
def test_every_command_refuses_a_damaged_model_in_one_line(
    committed_models, tmp_path, capsys, command
):
    model = tmp_path / "half.tflite"
    data = committed_models["int8"].read_bytes()
    model.write_bytes(data[: len(data) // 2])
    wav = write_wav(tmp_path / "quiet.wav", np.zeros(16000, np.float32))
    try:
        status = main([part.format(model=model, wav=wav) for part in command])
    except SystemExit as e:  # listen leaves through sys.exit, with the status it earned
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gru-edge: error: {model}: the file is damaged")
    assert "download it again or re-export it" in err
