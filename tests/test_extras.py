"""Optional packages: a missing one is named with the extra that installs it."""

from __future__ import annotations

import sys

import pytest

from gru_edge.extras import MissingPackage, require


def test_a_present_package_is_returned():
    assert require("json", "none", "reading JSON").dumps([1]) == "[1]"


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(
        MissingPackage,
        match=r"^resampling needs the optional package soxr: pip install 'gru-edge\[audio\]'"
        r", or convert it$",
    ):
        require("soxr", "audio", "resampling", ", or convert it")


def test_a_missing_dependency_of_a_module_is_named_not_the_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.delitem(sys.modules, "gru_edge.training.pipeline", raising=False)
    with pytest.raises(MissingPackage, match=r"needs the optional package tensorflow: .*\[train\]"):
        require("gru_edge.training.pipeline", "train", "gru-edge train")


def test_our_own_broken_import_keeps_its_traceback():
    with pytest.raises(ModuleNotFoundError, match="gru_edge.no_such_module"):
        require("gru_edge.no_such_module", "train", "anything")


def test_a_missing_system_library_names_the_debian_package(monkeypatch):
    class NoPortAudio:
        def find_spec(self, name, path=None, target=None):
            if name == "fake_audio_binding":
                raise OSError("PortAudio library not found")

    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    with pytest.raises(MissingPackage, match="sudo apt install libportaudio2"):
        require("fake_audio_binding", "mic", "the microphone", system_library="libportaudio2")
    with pytest.raises(OSError):
        require("fake_audio_binding", "mic", "the microphone")
