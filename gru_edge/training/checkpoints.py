"""Checkpoints a killed run resumes from, and the best model, both written atomically.

After every epoch the whole training state goes to RUN_DIR/checkpoint/: the model with its
optimizer state (`epoch-NNNN.keras`, and `best-NNNN.keras` when validation improved), then
`state.json` naming them with the history so far. Each file is written under a temporary name
and renamed, and files are only deleted once the new `state.json` no longer names them, so a
SIGKILL at any moment leaves a complete, consistent checkpoint to resume from. A run folder
damaged afterwards (a disk error, a copy cut short) is refused with the file's name before
any work, never loaded with damaged weights.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras

from gru_edge.atomicfile import atomic_path, remove_partials, write_text
from gru_edge.errors import GruEdgeError


class CheckpointError(GruEdgeError):
    """A file of a run's checkpoint is damaged: the message names it and how to go on."""


@dataclass
class RunState:
    """What a resumed run needs besides the model: how far it got and what it saw. The
    checkpoint folder holds exactly the files it names; `state.json` is the commit point."""

    epochs_done: int = 0
    model_file: str | None = None
    best_file: str | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        path = run_dir / "checkpoint" / "state.json"
        if not path.is_file():
            return cls()
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as e:  # not JSON, or not the fields of a state
            raise _damaged(path, run_dir, e) from None

    def check_files(self, run_dir: Path) -> None:
        """Refuses a checkpoint or best model that is not whole: every member's CRC-32 is
        checked, because Keras reads the weights without checking them, so a file with
        changed bytes would load and train on with damaged weights."""
        for path in [run_dir / "checkpoint" / n for n in (self.model_file, self.best_file) if n]:
            try:
                with zipfile.ZipFile(path) as archive:
                    damaged = archive.testzip()
            except (OSError, zipfile.BadZipFile) as e:
                raise _damaged(path, run_dir, e) from None
            if damaged:
                raise _damaged(path, run_dir, f"{damaged} inside fails its CRC-32 check")

    def save(self, run_dir: Path) -> None:
        write_text(run_dir / "checkpoint" / "state.json", json.dumps(asdict(self), indent=1))

    def checkpoint_path(self, run_dir: Path) -> Path | None:
        return run_dir / "checkpoint" / self.model_file if self.model_file else None


def settle(run_dir: Path, state: RunState) -> None:
    """Brings RUN_DIR in line with `state`, wherever a kill interrupted the last epoch: removes
    temporary files and checkpoint files it does not name, and publishes `best.keras` and
    `history.json` from it."""
    folder = run_dir / "checkpoint"
    remove_partials(run_dir)
    if not folder.is_dir():
        return
    remove_partials(folder)
    for leftover in folder.glob("*.keras"):
        if leftover.name not in (state.model_file, state.best_file):
            leftover.unlink()
    if state.best_file:
        with atomic_path(run_dir / "best.keras") as temporary:
            shutil.copyfile(folder / state.best_file, temporary)
    write_text(run_dir / "history.json", json.dumps(state.history, indent=1))


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: the checkpoint (and the best model when `monitor`, higher is
    better, improved) under new names, then `state.json` naming them, then `settle`."""

    def __init__(self, run_dir: Path, state: RunState, monitor: str) -> None:
        super().__init__()
        self.run_dir, self.state, self.monitor = run_dir, state, monitor
        (run_dir / "checkpoint").mkdir(parents=True, exist_ok=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        rate = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
        logs["seconds"] = time.monotonic() - self._started
        for key, value in logs.items():
            self.state.history.setdefault(key, []).append(float(value))
        value = logs.get(self.monitor)
        if value is not None and (self.state.best_value is None or value > self.state.best_value):
            self.state.best_epoch, self.state.best_value = epoch, float(value)
            self.state.best_file = self._save(f"best-{epoch + 1:04d}.keras")
        self.state.model_file = self._save(f"epoch-{epoch + 1:04d}.keras")
        self.state.epochs_done = epoch + 1
        self.state.save(self.run_dir)
        settle(self.run_dir, self.state)

    def _save(self, name: str) -> str:
        with atomic_path(self.run_dir / "checkpoint" / name) as temporary:
            self.model.save(temporary)
        return name


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras early stopping that, on a resumed run, first replays the epochs already done,
    so its patience counts from the best epoch of the whole run."""

    def __init__(self, past_values: list[float], monitor: str, **kwargs) -> None:
        super().__init__(monitor=monitor, mode="max", **kwargs)
        self.past_values = past_values

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for epoch, value in enumerate(self.past_values):
            super().on_epoch_end(epoch, {self.monitor: value})


def _damaged(path: Path, run_dir: Path, reason: object) -> CheckpointError:
    reason = " ".join(str(reason).split())  # one line, whatever the library said
    return CheckpointError(
        f"{path} is damaged ({reason}): start the run over (delete {run_dir / 'checkpoint'} "
        f"and run the same command with --resume, or choose another --out)"
    )
