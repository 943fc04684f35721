"""The on-detect command runner on its own (no audio): what `gru-edge listen --on-detect`
relies on, in the cases the audio-stack tests of tests/test_microphone.py do not reach."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from processes import still_running

from gru_edge.errors import ConfigError
from gru_edge.runtime.detector import Detection
from gru_edge.runtime.hooks import DetectionCommand

HEARD = Detection("yes", 1.25, 0.9)


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def warnings():
    """What the runner logs as warnings (on its own logger: the CLI's setup, which other tests
    run, keeps gru_edge's messages from reaching pytest's caplog)."""
    handler = Warnings()
    logger = logging.getLogger("gru_edge.runtime.hooks")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def pids_written(path: Path, count: int = 1) -> list[int]:
    for _ in range(200):
        if path.exists() and len(path.read_text().split()) >= count:
            return [int(pid) for pid in path.read_text().split()]
        time.sleep(0.01)
    pytest.fail(f"the command did not write {count} pid(s) to {path}")


def test_the_command_gets_the_detection_in_its_environment(tmp_path):
    out = tmp_path / "env.txt"
    with DetectionCommand(
        f'echo "$GRU_EDGE_KEYWORD $GRU_EDGE_TIME $GRU_EDGE_SCORE" > {out}'
    ) as command:
        command(HEARD)
        for _ in range(200):
            if out.exists() and out.read_text():
                break
            time.sleep(0.01)
    assert out.read_text().split() == ["yes", "1.250", "0.9000"]


@pytest.mark.reliability(
    area="hooks",
    fault="--on-detect command exits 0 at once, leaving a child in the background",
    outcome="the child is killed at --on-detect-limit with the command's process group",
)
def test_what_a_command_leaves_in_the_background_gets_its_time_limit(tmp_path, warnings):
    pids = tmp_path / "pids"
    with DetectionCommand(f"sleep 60 & echo $! > {pids}", time_limit=0.5) as command:
        command(HEARD)
        (child,) = pids_written(pids)
        time.sleep(0.6)
        assert not still_running([child])
    assert not warnings.messages  # the command itself exited 0: nothing to report


@pytest.mark.reliability(
    area="hooks",
    fault="--on-detect command killed by a signal of its own",
    outcome="logged with the keyword and the signal's name",
)
def test_a_command_killed_by_a_signal_is_reported_by_name(warnings):
    with DetectionCommand("kill -TERM $$") as command:
        command(HEARD)
        for _ in range(200):
            if warnings.messages:
                break
            time.sleep(0.01)
    assert warnings.messages == ["on-detect command for 'yes' failed: killed by SIGTERM"]


def test_a_time_limit_must_be_positive():
    with pytest.raises(ConfigError, match="must be positive, got 0 s"):
        DetectionCommand("true", time_limit=0)
