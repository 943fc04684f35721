"""Atomic writes: a failure while writing leaves the old file and no debris."""

from __future__ import annotations

import pytest

from gru_edge.atomicfile import atomic_path, write_text


def test_replaces_the_file_whole(tmp_path):
    path = tmp_path / "report.json"
    write_text(path, "old")
    write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_failure_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.keras"
    write_text(path, "complete model")
    with pytest.raises(RuntimeError), atomic_path(path) as temporary:
        assert temporary.suffix == ".keras" and temporary.parent == tmp_path
        temporary.write_text("half a mo")
        raise RuntimeError("killed")
    assert path.read_text() == "complete model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
