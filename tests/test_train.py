"""`gru-edge train` end to end on a tiny dataset: the run folder, resume after SIGKILL, and a
clear message for every kind of bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
from datasets import TINY, make_dataset

from gru_edge.cli import main
from gru_edge.config import Config
from gru_edge.training.checkpoints import RunState
from gru_edge.training.train import train


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_a_run_writes_everything_it_promises(tiny_data, tiny_config, tmp_path):
    run = tmp_path / "run"
    assert (
        main(["train", "--data", str(tiny_data), "--out", str(run), "--config", str(tiny_config)])
        == 0
    )
    for name in (
        "config.toml",
        "best.keras",
        "history.json",
        "metrics.json",
        "curves.png",
        "confusion_test.png",
        "confusion_validation.png",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert Config.from_toml(run / "config.toml") == Config.from_toml(tiny_config)
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 4 and {"val_accuracy", "learning_rate"} <= set(history)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["labels"] == ["_silence_", "_unknown_", "yes", "no"]
    assert metrics["parameters"] == keras.models.load_model(run / "best.keras").count_params()
    assert set(metrics["test"]["per_class"]) == set(metrics["labels"])
    assert metrics["test"]["clips"] == sum(sum(row) for row in metrics["test"]["confusion"])
    assert metrics["devices"] and metrics["training_seconds"] > 0
    state = RunState.load(run)
    assert state.epochs_done == 4 and state.best_file == f"best-{state.best_epoch + 1:04d}.keras"
    assert {p.name for p in (run / "checkpoint").iterdir()} == {
        "state.json",
        "epoch-0004.keras",
        state.best_file,
    }


def test_the_tiny_task_is_learned(tiny_data, tiny_config, tmp_path):
    metrics = train(
        tiny_data, tmp_path / "run", Config.from_toml(tiny_config), epochs=10, log=lambda *_: None
    )
    assert metrics["validation"]["accuracy"] >= 0.9  # 16 clips; chance is 0.25
    assert metrics["test"]["accuracy"] >= 0.75  # 8 clips


def _train_command(data: Path, run: Path, config: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gru_edge.cli",
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--config",
        str(config),
        *extra,
    ]


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "training never reached the point to kill it"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("moment", ["before the first epoch", "mid-run"])
def test_a_killed_run_resumes_from_its_last_complete_epoch(tiny_data, tmp_path, moment):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("epochs = 4", "epochs = 12"))
    run = tmp_path / "run"
    process = subprocess.Popen(
        _train_command(tiny_data, run, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if moment == "mid-run":
        _kill_when(process, lambda: RunState.load(run).epochs_done >= 3)
    else:
        _kill_when(process, lambda: (run / "config.toml").exists())
    killed_at = RunState.load(run)
    if killed_at.model_file:  # whatever was on disk at the kill is a complete checkpoint
        keras.models.load_model(killed_at.checkpoint_path(run))

    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_data),
                "--out",
                str(run),
                "--config",
                str(config),
                "--resume",
            ]
        )
        == 0
    )
    state = RunState.load(run)
    assert state.epochs_done == 12
    assert len(state.history["loss"]) == 12
    assert state.history["loss"][: killed_at.epochs_done] == killed_at.history.get("loss", [])
    assert {p.name for p in (run / "checkpoint").iterdir() if p.suffix == ".keras"} == {
        "epoch-0012.keras",
        state.best_file,
    }
    assert (run / "best.keras").read_bytes() == (run / "checkpoint" / state.best_file).read_bytes()
    assert not [p for p in run.rglob("*partial*")]


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gru-edge: error: ") and "Traceback" not in err
    return err


def test_bad_input_stops_before_training_with_a_clear_message(
    tiny_data, tiny_config, tmp_path, capsys
):
    run = str(tmp_path / "run")
    base = ["train", "--out", run, "--config", str(tiny_config)]
    assert "does not exist" in _error(capsys, [*base, "--data", str(tmp_path / "nowhere")])
    (tmp_path / "empty").mkdir()
    assert "holds no audio" in _error(capsys, [*base, "--data", str(tmp_path / "empty")])
    assert "no clips for keyword(s) ['marvin']" in _error(
        capsys, [*base, "--data", str(tiny_data), "--words", "yes,marvin"]
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nepochz = 3\n")
    assert "unknown key(s) ['epochz'] in [training]" in _error(
        capsys, ["train", "--data", str(tiny_data), "--out", run, "--config", str(bad)]
    )
    assert "holds no run to resume" in _error(capsys, [*base, "--data", str(tiny_data), "--resume"])
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_a_run_is_neither_overwritten_nor_resumed_with_other_settings(
    tiny_data, tiny_config, tmp_path, capsys
):
    run = str(tmp_path / "run")
    base = ["train", "--data", str(tiny_data), "--out", run, "--config", str(tiny_config)]
    assert main([*base, "--epochs", "2"]) == 0
    assert "already holds a run" in _error(capsys, [*base, "--epochs", "2"])
    differ = _error(capsys, [*base, "--epochs", "2", "--words", "yes,up", "--resume"])
    assert "these differ from" in differ and "data.words" in differ
    assert "training.epochs" in _error(capsys, [*base, "--epochs", "3", "--resume"])
    assert main([*base, "--epochs", "2", "--resume"]) == 0  # the same command: nothing to redo


def test_a_corrupt_file_among_many_is_reported_and_training_goes_on(tiny_config, tmp_path):
    data = make_dataset(tmp_path / "data")
    corrupt = data / "yes" / "spk007_nohash_5.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    lines = []
    metrics = train(
        data, tmp_path / "run", Config.from_toml(tiny_config), epochs=2, log=lines.append
    )
    assert metrics["data"]["skipped"] == [
        {"path": str(corrupt), "reason": metrics["data"]["skipped"][0]["reason"]}
    ]
    assert any("skipped 1 unreadable file(s)" in line for line in lines)
    assert any(str(corrupt) in line for line in lines)
