"""The wall of the design: the device side imports without TensorFlow or Keras."""

from __future__ import annotations

import json
import subprocess
import sys

# Every module of the package but the training side, found by walking it: a new module is
# held to the wall without anyone adding it to a list.
WALK = """
import pkgutil, gru_edge
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(gru_edge.__path__, "gru_edge.")
    if not m.name.startswith("gru_edge.training")
)
"""

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


def test_every_module_outside_training_imports_without_tensorflow():
    code = (
        WALK
        + """
import importlib
for name in MODULES:
    importlib.import_module(name)
import numpy as np
from gru_edge.features import log_mel
assert log_mel(np.zeros(16000, np.float32)).shape == (98, 40)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
assert not leaked, leaked
print("\\n".join(MODULES))
"""
    )
    result = run_without_tensorflow(code)
    assert result.returncode == 0, result.stderr
    walked = set(result.stdout.split())
    expected = {
        "gru_edge.cli",
        "gru_edge.commands.train",
        "gru_edge.datasets",
        "gru_edge.evaluation.streams",
        "gru_edge.plots",
        "gru_edge.runtime.replay",
        "gru_edge.runtime.sources",
        "gru_edge.serve.service",
    }
    assert expected <= walked, expected - walked


def test_gru_edge_stream_spots_keywords_without_tensorflow(committed_models, yes_no):
    _, wav = yes_no
    code = f"""
from gru_edge.cli import main
assert main(["stream", {str(committed_models["int8"])!r}, {str(wav)!r}, "--json"]) == 0
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
assert not leaked, leaked
"""
    result = run_without_tensorflow(code)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["keyword"] for line in result.stdout.splitlines()] == ["yes", "no"]
