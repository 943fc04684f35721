"""A custom wake word in one command, on a tiny budget: a backbone's layers under a new head,
synthetic clips, a stream round over negative audio, a round of mined negatives, export,
evaluation on "real"
recordings, the model card; a killed or repeated command continues; an unfit model is said
to be unfit. The backbone is the suite's tiny model (the shipped one is checked for its
settings only: it is too big to train here in seconds)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from datasets import TINY

from gru_edge.audio import write_wav
from gru_edge.cli import main
from gru_edge.config import Config, ModelConfig
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.calibration import HIGHEST
from gru_edge.synth import ENGINES, Clip, make_clip
from gru_edge.training.backbone import (
    SHIPPED,
    BackboneError,
    finalize_normalization,
    load_backbone,
    model_config,
    transfer,
)
from gru_edge.training.keyword import (
    KeywordRun,
    UnfitModelError,
    link_real_positives,
    positives_view,
    train_keyword,
    verdict,
)
from gru_edge.training.model import build_model

SMALL = (
    TINY.replace('words = ["yes", "no"]\n', "")
    + "[sequences]\nseconds = 2.0\nsteps_per_epoch = 3\nvalidation_minutes = 0.3\n"
)


@pytest.fixture(scope="module")
def voices():
    found = ENGINES["espeak-ng"].voices()
    if len(found) < 2:
        pytest.skip(f"espeak-ng is not installed ({ENGINES['espeak-ng'].install})")
    return [f"espeak-ng:{voice.name}" for voice in found[:2]]


def test_the_backbone_starts_a_model_of_other_words_under_a_new_head(tiny_run):
    backbone = load_backbone(tiny_run)
    settings = model_config(backbone)
    assert settings == ModelConfig(conv_filters=8, conv_kernel=3, gru_units=(32,))
    model = build_model(3, Config().features, settings)
    head = [w.copy() for w in model.get_layer("head").get_weights()]
    copied = transfer(backbone, model, freeze=True)
    assert {"normalization", "conv", "gru_0"} <= set(copied) and "head" not in copied
    for name in ("conv", "gru_0"):
        for mine, theirs in zip(
            model.get_layer(name).get_weights(), backbone.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(mine, theirs)
        assert not model.get_layer(name).trainable
    assert all(
        np.array_equal(a, b)
        for a, b in zip(head, model.get_layer("head").get_weights(), strict=True)
    )
    other = build_model(3, Config().features, ModelConfig(conv_filters=8, gru_units=(16,)))
    with pytest.raises(BackboneError, match="differ from the backbone"):
        transfer(backbone, other, freeze=False)
    with pytest.raises(BackboneError, match="no model at"):
        load_backbone(tiny_run / "nowhere")


def test_the_shipped_backbone_is_the_shipped_model():
    backbone = keras.models.load_model(SHIPPED, compile=False)
    assert model_config(backbone) == ModelConfig()  # the kws12 settings, the defaults
    assert backbone.get_layer("head").units == 12


def test_an_unfit_model_is_named_so():
    calibration = {"thresholds": {"stop": 0.9}, "frr": 0.2, "fa_per_hour": 0.3}
    calibration["target_fa_per_hour"] = 0.5
    assert verdict(calibration, "stop") == "ok"
    assert verdict({**calibration, "frr": 1.0}, "stop").startswith("never fires")
    loud = {**calibration, "thresholds": {"stop": HIGHEST}, "fa_per_hour": 40.0}
    assert verdict(loud, "stop").startswith("fires on everything")


def test_one_command_from_text_to_a_model_card(tmp_path, tiny_run, voices):
    talk = tmp_path / "talk"
    rng = np.random.default_rng(0)
    for speaker in "abcdef":
        (talk / speaker).mkdir(parents=True)
        write_wav(talk / speaker / "x.wav", rng.normal(0, 0.02, 16000 * 20).astype(np.float32))
    real = tmp_path / "real"
    for i, rate in enumerate((0.9, 1.0, 1.1)):  # stand-ins for a user's own recordings
        engine, name = voices[1].split(":")
        make_clip(Clip(engine, name, "", rate, 1.0, "stop"), real / f"me_{i}.wav")
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    run = tmp_path / "run"
    request = KeywordRun(
        phrase="stop",
        run_dir=run,
        count=8,
        voices=voices[:1],
        negatives=[talk],
        backbone=str(tiny_run),
        epochs=2,
        stream_epochs=1,
        positives=real,
        mine=[talk],
        mine_min_score=0.01,  # the tiny model "fires" everywhere: windows for a second round
        quantizations=("float32",),
        config=Config.from_toml(config),
        eval_hours=0.02,
        jobs=2,
    )
    try:
        train_keyword(request)
    except UnfitModelError as e:  # a model this small and short may be unfit: said, card written
        assert "never fires" in str(e) or "fires on everything" in str(e)
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["rounds"]) == {"clips", "stream", "mined"}
    mined = summary["rounds"]["mined"]
    assert mined["windows"]["windows"] > 0 and mined["recipe"] == "stream"
    assert len(list((run / "mined").rglob("*.wav"))) == mined["windows"]["windows"]
    assert summary["rounds"]["stream"]["recipe"] == "stream"
    assert Path(summary["files"]["float32"]["file"]) == run / "stop.tflite"
    assert (run / "stop.tflite").is_file() and summary["runtime_us_per_10ms"] > 0
    figures = summary["evaluation"]
    assert (
        figures["positives_stream"]["keywords"] > 0 and 0 <= figures["positives_clip_recall"] <= 1
    )
    assert figures["negatives"]["hours"] > 0
    card = (run / "MODEL_CARD.md").read_text()
    assert "Wake word 'stop'" in card and "espeak-ng-" in card and summary["verdict"] in card
    assert str(real) in card

    trained = (run / "clips" / "metrics.json").stat().st_mtime
    exported = (run / "stop.tflite").stat().st_mtime
    changed = dataclasses.replace(request, count=9)
    with pytest.raises(GruEdgeError, match=r"other settings \(count\)"):
        train_keyword(changed)
    try:  # again: every stage is found done, nothing is trained again
        train_keyword(request)
    except GruEdgeError as e:
        assert summary["verdict"] in str(e)
    assert (run / "clips" / "metrics.json").stat().st_mtime == trained
    assert (run / "stop.tflite").stat().st_mtime == exported


def test_the_command_refuses_bad_positives_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--keyword", "hey kitchen", "--out", str(out)]
    assert main([*argv, "--positives", str(tmp_path / "nowhere")]) != 0
    assert "is not a folder of recordings" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([*argv, "--positives", str(tmp_path / "empty")]) != 0
    assert "no recording" in capsys.readouterr().err and not (out / "data").exists()


def test_real_recordings_are_all_test_clips_and_other_words_only_held_out_ones(tmp_path, tiny_data):
    view = positives_view(tiny_data, "yes", tmp_path / "run")
    tested = set((view / "testing_list.txt").read_text().split())
    held_out = set((tiny_data / "validation_list.txt").read_text().split())
    held_out |= set((tiny_data / "testing_list.txt").read_text().split())
    every_yes = {f"yes/{p.name}" for p in (tiny_data / "yes").glob("*.wav")}
    assert every_yes <= tested
    others = {name for name in tested if not name.startswith("yes/")}
    assert others and others <= held_out  # their training clips may be negatives
    assert (view / "_background_noise_").is_dir()


def test_real_recordings_trained_on_are_not_measured_on(tmp_path, capsys):
    real = tmp_path / "me"
    real.mkdir()
    for speaker in range(30):
        write_wav(real / f"spk{speaker}_nohash_0.wav", np.zeros(1600, np.float32))
    run = tmp_path / "run"
    view = positives_view(real, "stop", run, train_share=True)
    tested = {
        name.split("/")[1]
        for name in (view / "testing_list.txt").read_text().split()
        if name.startswith("stop/")
    }
    (run / "data" / "stop").mkdir(parents=True)
    trained = link_real_positives(view, "stop", run / "data", train=True)
    linked = {p.name.removeprefix("real-") for p in (run / "data" / "stop").iterdir()}
    assert trained == len(linked) and linked and tested and not linked & tested
    assert linked | tested == {p.name for p in real.iterdir()}
    assert link_real_positives(view, "stop", run / "data", train=False) == 0
    assert not list((run / "data" / "stop").iterdir())  # a run without the flag trains on none
    assert main(["train", "--keyword", "stop", "--out", str(run), "--train-on-positives"]) != 0
    assert "--train-on-positives needs --positives" in capsys.readouterr().err


def test_a_plain_folder_of_recordings_is_measured_over_held_out_synthetic_words(tmp_path):
    real, run = tmp_path / "me", tmp_path / "run"
    real.mkdir()
    write_wav(real / "take1.wav", np.zeros(1600, np.float32))
    unknown = run / "data" / "_unknown_"
    unknown.mkdir(parents=True)
    for name in ("a_nohash_0.wav", "b_nohash_1.wav"):
        write_wav(unknown / name, np.zeros(1600, np.float32))
    (run / "data" / "validation_list.txt").write_text("_unknown_/b_nohash_1.wav\n")
    view = positives_view(real, "stop", run)
    tested = (view / "testing_list.txt").read_text().split()
    assert tested == ["_unknown_/b_nohash_1.wav", "stop/take1.wav"]  # a_... is trained on


def test_keyword_runs_refuse_the_options_of_a_dataset_run(tmp_path, capsys):
    argv = ["train", "--keyword", "stop", "--out", str(tmp_path / "run")]
    assert main([*argv, "--words", "go", "--resume"]) != 0
    assert "--words, --resume cannot go with --keyword" in capsys.readouterr().err


def test_weights_set_from_another_model_normalize_as_it_did(tiny_run):
    """set_weights alone leaves a Normalization layer computing with its old constants (none,
    for a layer never adapted): the stream round from a clip round once trained on raw
    log-mels."""
    source = load_backbone(tiny_run)
    model = build_model(4, Config().features, model_config(source))
    model.set_weights(source.get_weights())
    finalize_normalization(model)
    frames = np.random.default_rng(0).normal(-5, 3, (1, 50, 40)).astype(np.float32)
    np.testing.assert_allclose(
        model.get_layer("normalization")(frames),
        source.get_layer("normalization")(frames),
        rtol=1e-6,
    )
