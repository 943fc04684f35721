"""Files that are either whole or absent, alone or as a set: written under temporary names,
flushed to disk, then renamed.

A run killed at any moment (SIGKILL, power loss) leaves the previous version of a file or the
new one, never half of it. Files that belong together (an export's variants and its report)
are renamed only once a commit record naming the renames is on disk: a kill before the record
leaves the old set (and temporary files), a kill after it leaves the record, and the next
writer in the folder finishes the renames before anything else (`remove_partials`, which
writers call before they start). POSIX renames one file at a time, so only the microseconds
between the record and the last rename can leave a mix, and then with the record beside it
until the next writer completes the new set. Used for checkpoints, models and reports.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from gru_edge.errors import GruEdgeError

_WRITER = re.compile(r"\.partial-(\d+)")  # a temporary name carries its writer's pid
_COMMIT = ".commit"


class WriteError(GruEdgeError):
    """A file that cannot be written: the message names the file asked for (never a
    temporary name) and the cause."""


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def _writer_alive(path: Path) -> bool:
    """Whether the process that wrote `path` still runs: its pid is alive and started before
    the file was last written (after a power loss or a long uptime, a pid belongs to another
    process, which must not keep a dead writer's commit from being finished)."""
    found = _WRITER.search(path.name)
    if not found:
        return False
    pid = int(found.group(1))
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        pass
    started = _process_start(pid)
    try:
        return started is None or started <= path.stat().st_mtime
    except OSError:  # gone meanwhile: its writer finished
        return False


def _process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from Linux's /proc; None where
    that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, after the name
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def remove_partials(folder: str | Path) -> None:
    """Finishes the commits that killed writers left in `folder`, then deletes their other
    temporary files (never a finished file, nor the files of a writer still running)."""
    folder = Path(folder)
    for record in sorted(folder.glob(f".*.partial-*{_COMMIT}")):
        if _writer_alive(record):
            continue
        try:
            renames = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise WriteError(f"{record}: cannot read this commit record ({e}); delete it") from None
        for temporary, target in renames:
            if (folder / temporary).exists():
                os.replace(folder / temporary, folder / target)
        _sync_folder(folder)
        record.unlink()
    for leftover in folder.glob(".*.partial-*"):
        if not _writer_alive(leftover):
            leftover.unlink(missing_ok=True)


def prepare_folder(folder: str | Path) -> None:
    """Makes `folder` if needed, finishes or removes what killed writers left there, and
    proves a file can be created in it: a writer refused here is refused before its work."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_partials(folder)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise WriteError(f"cannot write in {folder}: {_cause(e, folder)}") from None


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Yields a temporary path beside each of `paths` (same suffix, for writers that check
    it), all in one folder; when the block succeeds, the files are flushed to disk and
    renamed onto `paths` as one commit (see the module's docstring)."""
    paths = [Path(path) for path in paths]
    folder = paths[0].parent
    if any(path.parent != folder for path in paths):
        raise ValueError(f"atomic_paths writes into one folder, not {sorted(set(paths))}")
    temporaries = [_partial_name(path) for path in paths]
    record = temporaries[0].with_suffix(_COMMIT)
    committed = False
    try:
        yield temporaries
        for temporary in temporaries:
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
        if len(paths) > 1:
            _write_record(
                record, [[t.name, p.name] for t, p in zip(temporaries, paths, strict=True)]
            )
            committed = True  # from here on, the next writer finishes the renames
        for temporary, path in zip(temporaries, paths, strict=True):
            os.replace(temporary, path)
        _sync_folder(folder)
        record.unlink(missing_ok=True)
    except OSError as e:
        names = {str(t): p for t, p in zip(temporaries, paths, strict=True)}
        if e.filename is not None and str(e.filename) not in names:
            raise  # about another file (one the block read): its own message names it
        target = names.get(str(e.filename), paths[0] if len(paths) == 1 else None)
        what = target if target is not None else f"in {folder}"
        raise WriteError(f"cannot write {what}: {_cause(e, folder)}") from None
    finally:
        if not committed:
            for temporary in temporaries:
                with contextlib.suppress(OSError):  # absent, or its folder is: nothing to do
                    temporary.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, for writers that check it); when
    the block succeeds the file is flushed to disk and renamed onto `path`."""
    with atomic_paths([path]) as (temporary,):
        yield temporary


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _write_record(record: Path, renames: list[list[str]]) -> None:
    """The commit point of a set: written whole (under a temporary name of its own, which
    `remove_partials` deletes like any other) and flushed before any rename."""
    partial = record.with_name(record.name + ".partial")
    with open(partial, "w", encoding="utf-8") as out:
        out.write(json.dumps(renames))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, record)
    _sync_folder(record.parent)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _cause(error: OSError, folder: Path) -> str:
    """What went wrong in words a user can act on."""
    causes = {
        errno.ENOSPC: f"the disk holding {folder} is full: free some space",
        errno.EDQUOT: f"the disk quota for {folder} is used up",
        errno.EACCES: f"no permission to write in {folder}",
        errno.EPERM: f"no permission to write in {folder}",
        errno.EROFS: f"{folder} is on a read-only file system",
        errno.ENOENT: f"{folder} does not exist",
        errno.ENOTDIR: f"{folder} is not a folder",
        errno.EEXIST: f"{folder} is not a folder",
    }
    return causes.get(error.errno, error.strerror or str(error))
