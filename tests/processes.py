"""Whether processes a test started (through gru_edge) still run."""

from __future__ import annotations

import time
from pathlib import Path


def running(pids: list[int]) -> list[int]:
    """The processes among `pids` that still run (a zombie has ended: it waits to be reaped)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def still_running(pids: list[int]) -> list[int]:
    """The processes among `pids` still running half a second after being killed, when the
    kill has long reached them."""
    deadline = time.monotonic() + 0.5
    while running(pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return running(pids)
