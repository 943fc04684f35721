"""Which TFLite interpreter runs a model: the first that imports, or the one asked for; and
the child process that tries a file no checksum vouches for."""

from __future__ import annotations

import importlib.util
import logging
import sys
import types

import pytest
from model_files import without_checksum

from gru_edge.runtime.interpreter import (
    BACKENDS,
    ENV_VAR,
    InterpreterMissing,
    UnknownInterpreter,
    interpreter_module,
)
from gru_edge.runtime.stream import StreamingModel

INSTALLED = [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def test_tensorflow_is_never_one_of_them():
    assert list(BACKENDS) == ["ai_edge_litert", "tflite_runtime"]


def test_the_first_that_imports_is_used(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert INSTALLED, "the test environment has no interpreter at all"
    assert interpreter_module()[0] == INSTALLED[0]
    monkeypatch.setitem(sys.modules, BACKENDS[INSTALLED[0]], None)
    if len(INSTALLED) > 1:
        assert interpreter_module()[0] == INSTALLED[1]


def test_the_second_is_used_when_the_first_is_missing(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    stand_in = types.ModuleType("tflite_runtime.interpreter")  # whichever is installed here
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", stand_in)
    monkeypatch.setitem(sys.modules, BACKENDS["ai_edge_litert"], None)
    assert interpreter_module() == ("tflite_runtime", stand_in)


@pytest.mark.parametrize("name", INSTALLED)
def test_the_environment_variable_chooses_one(monkeypatch, name):
    monkeypatch.setenv(ENV_VAR, name)
    assert interpreter_module()[0] == name


def test_a_chosen_interpreter_that_is_not_installed_is_named(monkeypatch):
    missing = next(name for name in BACKENDS if name != INSTALLED[0])
    monkeypatch.setitem(sys.modules, BACKENDS[missing], None)
    monkeypatch.setenv(ENV_VAR, missing)
    with pytest.raises(InterpreterMissing, match=rf"^no TFLite interpreter .*{missing}: "):
        interpreter_module()


def test_an_unknown_name_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "tensorflow")
    with pytest.raises(UnknownInterpreter, match=rf"'tensorflow' named by \${ENV_VAR}"):
        interpreter_module()
    with pytest.raises(UnknownInterpreter, match="'tf' asked for; choose one of"):
        interpreter_module("tf")


def test_no_interpreter_at_all_says_what_to_install(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    for module in BACKENDS.values():
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(InterpreterMissing, match="pip install ai-edge-litert"):
        interpreter_module()


@pytest.mark.reliability(
    area="model file",
    fault="no child Python can start to check a file without a checksum",
    outcome="a warning, and the file is loaded in this process unchecked",
)
def test_a_file_is_loaded_unchecked_when_no_child_can_start(
    committed_models, tmp_path, monkeypatch, caplog
):
    """As under user-mode emulation without binfmt (tools/pi_check.py): exec fails."""
    data = without_checksum(committed_models["int8"].read_bytes())
    not_a_program = tmp_path / "python"
    not_a_program.write_text("no execute bit")
    monkeypatch.setattr(sys, "executable", str(not_a_program))
    with caplog.at_level(logging.WARNING, logger="gru_edge"):
        model = StreamingModel(data)
    assert model.metadata.checksum == ""
    assert "model: not checked in a child process ([Errno 13] Permission denied" in caplog.text
