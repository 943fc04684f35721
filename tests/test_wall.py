"""The wall of the design: the device side imports without TensorFlow or Keras."""

from __future__ import annotations

import json
import subprocess
import sys

DEVICE_MODULES = [
    "gru_edge",
    "gru_edge.audio",
    "gru_edge.features",
    "gru_edge.config",
    "gru_edge.errors",
    "gru_edge.cli",
]

BLOCKER = """
import importlib.abc, sys

class Unimportable(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} is unimportable in this test")

sys.meta_path.insert(0, Unimportable())
"""


def run_without_tensorflow(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True, text=True)


def test_the_blocker_blocks():
    result = run_without_tensorflow("import tensorflow")
    assert result.returncode != 0 and "unimportable in this test" in result.stderr


def test_device_side_imports_and_runs_without_tensorflow():
    code = f"""
import importlib
for name in {DEVICE_MODULES!r}:
    importlib.import_module(name)
import numpy as np
from gru_edge.features import log_mel
assert log_mel(np.zeros(16000, np.float32)).shape == (98, 40)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
assert not leaked, leaked
"""
    result = run_without_tensorflow(code)
    assert result.returncode == 0, result.stderr


def test_gru_edge_stream_spots_keywords_without_tensorflow(tiny_models, yes_no):
    _, out = tiny_models
    _, wav = yes_no
    code = f"""
from gru_edge.cli import main
assert main(["stream", {str(out.with_name("tiny.int8.tflite"))!r}, {str(wav)!r}, "--json"]) == 0
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
assert not leaked, leaked
"""
    result = run_without_tensorflow(code)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["keyword"] for line in result.stdout.splitlines()] == ["yes", "no"]
