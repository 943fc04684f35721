"""`gru-edge train` end to end on a tiny dataset: the run folder, resume after SIGKILL, and a
clear message for every kind of bad input."""

from __future__ import annotations

import json
import logging
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
    metrics = train(tiny_data, tmp_path / "run", Config.from_toml(tiny_config), epochs=10)
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
    """The one error line a failed command ends with (progress may be logged before it)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("gru-edge: error: ")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    return errors[0]


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


def test_a_corrupt_file_among_many_is_reported_and_training_goes_on(tiny_config, tmp_path, caplog):
    data = make_dataset(tmp_path / "data")
    corrupt = data / "yes" / "spk007_nohash_5.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    logger = logging.getLogger("gru_edge")  # the CLI stops it propagating to the root
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger="gru_edge"):
            metrics = train(data, tmp_path / "run", Config.from_toml(tiny_config), epochs=2)
    finally:
        logger.removeHandler(caplog.handler)
    lines = [record.getMessage() for record in caplog.records]
    assert metrics["data"]["skipped"] == [
        {"path": str(corrupt), "reason": metrics["data"]["skipped"][0]["reason"]}
    ]
    assert any("skipped 1 unreadable file(s)" in line for line in lines)
    assert any(str(corrupt) in line for line in lines)


def test_the_stream_recipe_fine_tunes_on_sequences_and_exports_calibrated_thresholds(
    tiny_data, tiny_run, tmp_path, capsys
):
    """A round of the stream recipe from the tiny clip model, over negative "talk": it keeps
    its words, is chosen on the validation stream, and its file carries thresholds."""
    import numpy as np
    import soundfile

    from gru_edge.evaluation.calibration import CANDIDATES, HIGHEST
    from gru_edge.modelfile import read_metadata
    from gru_edge.training.export import export

    talk = tmp_path / "talk"
    rng = np.random.default_rng(0)
    for speaker in "abcdef":
        (talk / speaker).mkdir(parents=True)
        noise = rng.normal(0, 0.02, 16000 * 20).astype(np.float32)
        soundfile.write(talk / speaker / "x.wav", noise, 16000)
    stream = TINY.replace('recipe = "clips"', f'recipe = "stream"\ninit_from = "{tiny_run}"')
    stream += "[sequences]\nseconds = 2.0\nsteps_per_epoch = 4\nvalidation_minutes = 0.5\n"
    config = tmp_path / "stream.toml"
    config.write_text(stream)
    run = tmp_path / "run"
    metrics = train(tiny_data, run, Config.from_toml(config), epochs=3, negatives=(str(talk),))
    assert metrics["recipe"] == "stream" and metrics["data"]["negatives"].startswith("1 corpora")
    assert metrics["validation"]["accuracy"] >= 0.75  # the words survive the round
    history = json.loads((run / "history.json").read_text())
    assert len(history["val_stream_recall"]) == 3 and len(history["val_accuracy"]) == 3
    state = RunState.load(run)
    assert history["val_stream_recall"][state.best_epoch] == max(history["val_stream_recall"])

    out = tmp_path / "stream.tflite"
    export(run, out, ["float32"], stream_minutes=0.1, calibration_minutes=0.5)
    meta = read_metadata(out)
    assert set(meta.thresholds) == {"yes", "no"}
    assert set(meta.thresholds.values()) <= {*CANDIDATES.tolist(), HIGHEST}  # calibrated
    assert meta.calibration["negatives_split"] == [15.0, 15.0]
    assert meta.calibration["target_fa_per_hour"] == 0.5 and meta.calibration["hours"] > 0
    assert "negative audio: 1 corpora" in meta.training_data
    assert main(["info", str(out)]) == 0
    assert "thresholds calibrated to 0.5 false accepts per hour" in capsys.readouterr().out
