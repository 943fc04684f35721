"""`gru-edge train` end to end on a tiny dataset: the run folder, resume after SIGKILL, and a
clear message for every kind of bad input."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
from datasets import TINY, make_dataset
from datasets import tiny_config as tiny_settings

from gru_edge.cli import main
from gru_edge.config import AugmentConfig, Config, SequenceConfig
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


def test_a_run_killed_before_its_first_epoch_resumes_from_the_start(tiny_data, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    run = tmp_path / "run"
    process = subprocess.Popen(
        _train_command(tiny_data, run, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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
    assert state.epochs_done == 4
    assert len(state.history["loss"]) == 4
    assert state.history["loss"][: killed_at.epochs_done] == killed_at.history.get("loss", [])
    assert {p.name for p in (run / "checkpoint").iterdir() if p.suffix == ".keras"} == {
        "epoch-0004.keras",
        state.best_file,
    }
    assert (run / "best.keras").read_bytes() == (run / "checkpoint" / state.best_file).read_bytes()
    assert not [p for p in run.rglob("*partial*")]


def _augmented(recipe: str, epochs: int) -> Config:
    """The tiny settings with every augmentation at its default (SpecAugment included), in
    `recipe`: what a real run draws at random."""
    config = tiny_settings()
    training = dataclasses.replace(config.training, recipe=recipe, epochs=epochs)
    sequences = SequenceConfig(seconds=2.0, steps_per_epoch=4, validation_minutes=0.3)
    return dataclasses.replace(
        config, augment=AugmentConfig(), training=training, sequences=sequences
    )


def _half_an_epoch_after(run: Path, epochs: int) -> bool:
    """Whether `epochs` epochs are saved, after waiting half of the last one's duration: the
    next epoch is then about half done."""
    state = RunState.load(run)
    if state.epochs_done < epochs:
        return False
    time.sleep(state.history["seconds"][-1] / 2)
    return True


def _numbers(run: Path) -> tuple[dict, dict]:
    """What a run computed: its history (less the wall-clock seconds), its best epoch and its
    metrics on the validation and test clips."""
    history = json.loads((run / "history.json").read_text())
    history.pop("seconds")
    metrics = json.loads((run / "metrics.json").read_text())
    return history, {key: metrics[key] for key in ("best_epoch", "validation", "test")}


@pytest.mark.reliability(
    area="training",
    fault="SIGKILL mid-epoch, then --resume (augmentation on, both recipes)",
    outcome="the same history and metrics as the uninterrupted run, to the last bit",
)
@pytest.mark.parametrize("recipe", ["clips", "stream"])
def test_a_run_killed_mid_epoch_resumes_with_the_numbers_of_an_uninterrupted_run(
    tiny_data, tmp_path, recipe
):
    epochs = 4
    config = tmp_path / "augmented.toml"
    _augmented(recipe, epochs).save(config)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_train_command(tiny_data, whole, config), check=True, capture_output=True)
    process = subprocess.Popen(
        _train_command(tiny_data, killed, config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _kill_when(process, lambda: _half_an_epoch_after(killed, 2))
    killed_at = RunState.load(killed)
    assert 2 <= killed_at.epochs_done < epochs
    keras.models.load_model(killed_at.checkpoint_path(killed))  # complete, whatever the moment
    resumed = subprocess.run(
        _train_command(tiny_data, killed, config, "--resume"), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert _numbers(killed) == _numbers(whole)
    state = RunState.load(killed)
    assert state.history["loss"][: killed_at.epochs_done] == killed_at.history["loss"]
    assert {p.name for p in (killed / "checkpoint").iterdir() if p.suffix == ".keras"} == {
        f"epoch-{epochs:04d}.keras",
        state.best_file,
    }
    best = (killed / "checkpoint" / state.best_file).read_bytes()
    assert (killed / "best.keras").read_bytes() == best
    assert not [p for p in killed.rglob("*partial*")]


@pytest.mark.reliability(
    area="training",
    fault="--epochs 1 with the default warm-up of 2 epochs",
    outcome="trains: the warm-up is cut to half the run, with a note (it was refused)",
)
def test_a_run_shorter_than_its_warm_up_trains(tiny_data, tmp_path, capsys):
    config = tmp_path / "default_warmup.toml"
    config.write_text(TINY.replace("warmup_epochs = 1\n", ""))
    run = tmp_path / "run"
    argv = ["train", "--data", str(tiny_data), "--out", str(run), "--config", str(config)]
    assert main([*argv, "--epochs", "1"]) == 0
    assert "warming up over the first half of the run" in capsys.readouterr().err
    assert RunState.load(run).epochs_done == 1
    assert Config.from_toml(run / "config.toml").training.warmup_epochs == 2  # as asked


def test_the_warm_up_is_cut_to_half_of_a_run_it_does_not_fit():
    from gru_edge.config import TrainingConfig
    from gru_edge.training.train import learning_rate_schedule

    short = learning_rate_schedule(TrainingConfig(epochs=1, learning_rate=0.01), 10)
    assert [round(float(short(step)), 6) for step in (0, 5, 10)] == [0.0001, 0.01, 0.0]
    fits = learning_rate_schedule(TrainingConfig(epochs=4, warmup_epochs=3, learning_rate=0.01), 10)
    assert [round(float(fits(step)), 6) for step in (0, 30, 40)] == [0.0001, 0.01, 0.0]


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


@pytest.mark.reliability(
    area="training",
    fault="a run folder's state.json or checkpoint damaged (cut short, bytes changed)",
    outcome="--resume: one line naming the file and how to start over, exit 2",
)
@pytest.mark.parametrize("damage", ["state cut short", "checkpoint cut short", "bytes changed"])
def test_a_damaged_run_folder_is_named_in_one_line(tiny_data, tiny_run, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    state = RunState.load(run)
    checkpoint = run / "checkpoint" / state.best_file
    target = run / "checkpoint" / "state.json" if damage == "state cut short" else checkpoint
    content = bytearray(target.read_bytes())
    if damage == "bytes changed":  # in the weights: Keras alone would load them as they are
        middle = slice(len(content) // 2, len(content) // 2 + 16)
        content[middle] = bytes(b ^ 0xFF for b in content[middle])
    else:
        content = content[: len(content) // 2]
    target.write_bytes(bytes(content))
    line = _error(capsys, ["train", "--data", str(tiny_data), "--out", str(run), "--resume"])
    assert f"{target} is damaged" in line and "start the run over" in line


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


@pytest.mark.reliability(
    area="training",
    fault="a corrupt clip and a corrupt noise recording among many",
    outcome="both skipped and listed with the reason; training goes on",
)
def test_a_corrupt_file_among_many_is_reported_and_training_goes_on(tiny_config, tmp_path, caplog):
    data = make_dataset(tmp_path / "data")
    corrupt = data / "yes" / "spk007_nohash_5.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    noise = data / "_background_noise_" / "noise9.wav"
    noise.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    logger = logging.getLogger("gru_edge")  # the CLI stops it propagating to the root
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger="gru_edge"):
            metrics = train(data, tmp_path / "run", Config.from_toml(tiny_config), epochs=2)
    finally:
        logger.removeHandler(caplog.handler)
    lines = [record.getMessage() for record in caplog.records]
    assert [item["path"] for item in metrics["data"]["skipped"]] == [str(noise), str(corrupt)]
    assert any("skipped 2 unreadable file(s)" in line for line in lines)
    assert any(str(corrupt) in line for line in lines) and any(str(noise) in line for line in lines)


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
