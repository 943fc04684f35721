"""Atomic writes: a failure while writing leaves the old file and no debris; a set of files
is replaced whole even when a kill comes between two renames; errors name the real file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from gru_edge.atomicfile import WriteError, atomic_path, remove_partials, write_text


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


# Renames `len(paths)` files with atomic_paths, SIGKILLed right after the Nth os.replace (the
# commit record's own rename counts): a kill at a precise point, in a process of its own.
KILLED_COMMIT = """
import os, signal, sys
from pathlib import Path
from gru_edge.atomicfile import atomic_paths
folder, kill_after = Path(sys.argv[1]), int(sys.argv[2])
replace, done = os.replace, []
def replace_then_die(source, target):
    replace(source, target)
    done.append(target)
    if len(done) == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace_then_die
with atomic_paths([folder / name for name in sys.argv[3:]]) as temporaries:
    for temporary in temporaries:
        temporary.write_text("new")
"""
SET = ["m.float32.tflite", "m.int8.tflite", "m.report.json"]


@pytest.mark.parametrize("kill_after", range(1, len(SET) + 2))
@pytest.mark.reliability(
    area="export",
    fault="SIGKILL between renaming the files of a set (variants and report)",
    outcome="the next writer completes the set: never a mix of old and new",
)
def test_a_set_killed_while_renaming_is_completed_by_the_next_writer(tmp_path, kill_after):
    for name in SET:
        write_text(tmp_path / name, "old")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_COMMIT, str(tmp_path), str(kill_after), *SET]
    )
    assert killed.returncode == -signal.SIGKILL
    remove_partials(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SET)
    assert len({(tmp_path / name).read_text() for name in SET}) == 1  # all old or all new


@pytest.mark.reliability(
    area="export",
    fault="cleaning up a folder where another process is writing",
    outcome="only the temporary files of writers that are gone are removed",
)
def test_only_the_partials_of_dead_writers_are_removed(tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", ""])
    finished.wait()  # its pid names no process now
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f".m.partial-{alive.pid}.tflite").write_text("being written")
        (tmp_path / f".m.partial-{finished.pid}.tflite").write_text("left by a kill")
        remove_partials(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == [f".m.partial-{alive.pid}.tflite"]
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.reliability(
    area="export",
    fault="a power loss mid-export: after the reboot the writer's pid is another process's",
    outcome="the dead writer's commit is finished and its partial files removed",
)
def test_a_writer_whose_pid_was_reused_counts_as_gone(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        left = tmp_path / f".m.partial-{alive.pid}.tflite"
        left.write_text("left by a writer that died before this process started")
        before = time.time() - 3600
        os.utime(left, (before, before))
        remove_partials(tmp_path)
        assert list(tmp_path.iterdir()) == []
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize(
    "where, cause",
    [("missing/model.tflite", "does not exist"), ("a_file/model.tflite", "is not a folder")],
)
@pytest.mark.reliability(
    area="export",
    fault="writing where the folder is missing or is a file",
    outcome="WriteError naming the file asked for, never a temporary name",
)
def test_a_write_that_fails_names_the_file_asked_for(tmp_path, where, cause):
    (tmp_path / "a_file").write_text("not a folder")
    target = tmp_path / where
    with pytest.raises(WriteError) as failed:
        write_text(target, "text")
    assert str(failed.value) == f"cannot write {target}: {target.parent} {cause}"
