"""Files that are either whole or absent: write to a temporary name, fsync, then rename.

A run killed at any moment (SIGKILL, power loss) leaves the previous version of the file or
the new one, never half of it. Used for checkpoints, models and reports.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def remove_partials(folder: Path) -> None:
    """Deletes the temporary files a killed writer left in `folder` (never a finished file)."""
    for leftover in folder.glob(".*.partial-*"):
        leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, for writers that check it); when
    the block succeeds the file is flushed to disk and renamed onto `path`."""
    path = Path(path)
    temporary = _partial_name(path)
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
