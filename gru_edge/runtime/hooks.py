"""A shell command run on each detection (`gru-edge listen --on-detect`), kept in hand.

It runs beside the audio, never in its way, and never out of reach: each run in a process group
of its own (so that what it starts in the background is reached too), for at most a time limit
after which the whole group is killed; a run that fails or is killed is logged with its
keyword; its standard output goes to standard error, so that nothing it prints can mix with
the detections on standard output (under systemd both reach the journal, where the hook's
output helps whoever debugs it); and `close()` kills every group still running, so that none
outlives the listener.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from gru_edge.errors import ConfigError
from gru_edge.runtime.detector import Detection

log = logging.getLogger(__name__)

STDERR = 2  # the process's standard error, whatever Python's sys.stderr is at the moment
POLL_SECONDS = 0.05  # how often a watcher looks at its run


@dataclass
class _Run:
    keyword: str
    process: subprocess.Popen  # the shell, leader of the run's process group
    deadline: float

    @property
    def group(self) -> int:
        return self.process.pid


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member that changed its user: still there
        return True
    return True


def _exit_status(status: int) -> str:
    return f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"


class DetectionCommand:
    """Runs `command` with the shell on each detection, with GRU_EDGE_KEYWORD, GRU_EDGE_SCORE
    and GRU_EDGE_TIME in its environment, for at most `time_limit` seconds."""

    def __init__(self, command: str, time_limit: float = 10.0) -> None:
        if time_limit <= 0:
            raise ConfigError(f"on-detect time limit: must be positive, got {time_limit:g} s")
        self.command = command
        self.time_limit = time_limit
        self._runs: dict[int, _Run] = {}  # by process group, while any of it runs
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def __call__(self, detection: Detection) -> None:
        env = {
            **os.environ,
            "GRU_EDGE_KEYWORD": detection.keyword,
            "GRU_EDGE_SCORE": f"{detection.score:.4f}",
            "GRU_EDGE_TIME": f"{detection.time:.3f}",
        }
        process = None
        try:
            process = subprocess.Popen(
                self.command,
                shell=True,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=STDERR,
                process_group=0,  # a group of its own, led by the shell
            )
        except OSError as e:
            log.warning("on-detect command for %r did not start: %s", detection.keyword, e)
            return
        finally:
            # Registered even when listen's SIGTERM handler raises right after the start: a
            # command missing from `_runs` would escape `close()` and its time limit.
            if process is not None:
                run = _Run(detection.keyword, process, time.monotonic() + self.time_limit)
                with self._lock:
                    self._runs[run.group] = run
        threading.Thread(target=self._watch, args=(run,), name="on-detect", daemon=True).start()

    def _watch(self, run: _Run) -> None:
        """Reports how the command ends, and kills its group at the time limit: the command
        itself, or what it left running in the background."""
        reported = False
        try:
            while not self._closing.is_set():
                status = run.process.poll()
                if status is not None and not reported:
                    if status != 0:
                        log.warning(
                            "on-detect command for %r failed: %s",
                            run.keyword,
                            _exit_status(status),
                        )
                    reported = True
                if status is not None and not _group_alive(run.group):
                    return
                if time.monotonic() >= run.deadline:
                    self._kill(run.group)
                    if status is None:
                        log.warning(
                            "on-detect command for %r still ran after its %g s limit: "
                            "killed it and its process group",
                            run.keyword,
                            self.time_limit,
                        )
                    run.process.wait()
                    return
                time.sleep(POLL_SECONDS)
        finally:
            with self._lock:
                self._runs.pop(run.group, None)

    @staticmethod
    def _kill(group: int) -> None:
        # SIGKILL, not SIGTERM: a command that ignores SIGTERM would outlive its limit, or
        # the listener that must be gone within a second of being told to stop.
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone, or not ours
            os.killpg(group, signal.SIGKILL)

    def close(self) -> None:
        """Kills every command still running, with all of its process group."""
        self._closing.set()
        with self._lock:
            running = list(self._runs.values())
            self._runs.clear()
        for run in running:
            self._kill(run.group)
        for run in running:  # reaped now: SIGKILL cannot be ignored
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.process.wait(timeout=0.5)
        if running:
            log.warning(
                "stopped %d on-detect command(s) still running: killed with their process groups",
                len(running),
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
