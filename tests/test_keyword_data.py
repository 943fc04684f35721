"""A custom wake word's training folder from its text: the layout `gru-edge train` reads, a
manifest of how each clip was made, a cache, and nothing of the user's lost. The voices are
whatever is installed (espeak-ng is: `make test` installs it); none installed skips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gru_edge.audio import read_audio, write_wav
from gru_edge.cli import main
from gru_edge.datasets import DataConfig, load_dataset
from gru_edge.errors import GruEdgeError
from gru_edge.keyword_data import MANIFEST, label_of, make_keyword_data
from gru_edge.synth import ENGINES, contains_keyword


@pytest.fixture(scope="module")
def voice():
    voices = ENGINES["espeak-ng"].voices()
    if not voices:
        pytest.skip(f"espeak-ng is not installed ({ENGINES['espeak-ng'].install})")
    return f"espeak-ng:{voices[0].name}"


@pytest.fixture
def noise_folder(tmp_path):
    folder = tmp_path / "noise"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_wav(folder / "hum.wav", (0.1 * rng.standard_normal(20 * 16000)).astype(np.float32))
    write_wav(folder / "click.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32))
    return folder


def test_labels_are_the_words_of_the_phrase():
    assert label_of("Hey Kitchen!") == "hey_kitchen" and label_of("stop") == "stop"
    for nothing in (" !? ", "'"):
        with pytest.raises(GruEdgeError, match="no letters"):
            label_of(nothing)
    for unsayable in ("hey jürgen", "computer 3"):
        with pytest.raises(GruEdgeError, match="letters a-z"):
            label_of(unsayable)


def test_too_few_clips_are_refused_before_any_speech(tmp_path):
    for count, confusable_count in ((1, None), (8, 0), (8, 2)):
        with pytest.raises(GruEdgeError, match="at least 4"):
            make_keyword_data("stop", tmp_path / "data", count, confusable_count)
    assert not (tmp_path / "data").exists()


def test_the_folder_is_a_dataset_of_the_phrase_and_its_confusables(tmp_path, voice, noise_folder):
    out = tmp_path / "data"
    data = make_keyword_data(
        "hey kitchen", out, count=6, voices=[voice], noise=[noise_folder], seed=1, jobs=2
    )
    assert data.label == "hey_kitchen" and data.clip_seconds >= 1.0
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    positives = [r for r in records if r["kind"] == "positive"]
    near = [r for r in records if r["kind"] == "confusable"]
    sentences = [r for r in records if r["kind"] == "sentence"]
    assert len(positives) == 6 and len(near) == 3 and len(sentences) == 3
    assert all(len(r["text"].split()) >= 3 for r in sentences)
    assert all(r["text"].rstrip("!.?") == "hey kitchen" for r in positives)
    assert not any(contains_keyword(r["text"], ["hey kitchen"]) for r in near + sentences)
    assert {r["degradation"]["noise"] for r in records} <= {-1, 0, 1}
    for record in records:
        clip = read_audio(out / record["file"])
        assert len(clip) >= data.clip_seconds * 16000 - 1 and np.abs(clip).max() < 1.0
    # What training reads: the phrase a class, its confusables unknown, validation clips of both.
    dataset = load_dataset(out, DataConfig(words=("hey_kitchen",), unknown_percentage=100.0), 16000)
    assert dataset.labels == ("_silence_", "_unknown_", "hey_kitchen")
    for split in ("train", "validation"):
        assert set(dataset.clips[split].labels.tolist()) == {0, 1, 2}
    assert dataset.noise_source.startswith("1 files")  # noise_floor.wav: pieces of all noise
    floor = read_audio(out / "_background_noise_" / "noise_floor.wav")
    assert len(floor) >= 10 * 60 * 16000 and np.abs(floor).max() <= 1.0


def test_a_second_run_is_the_same_and_a_smaller_one_leaves_no_old_clip(tmp_path, voice):
    out = tmp_path / "data"
    make_keyword_data("stop", out, count=6, confusable_count=6, voices=[voice], jobs=1)
    first = {p.name: p.read_bytes() for p in (out / "stop").iterdir()}
    own = out / "stop" / "my_own_recording.wav"
    write_wav(own, np.zeros(1600, np.float32))
    seen = []
    make_keyword_data(
        "stop",
        out,
        count=6,
        confusable_count=6,
        voices=[voice],
        jobs=1,
        progress=lambda stage, done, total: seen.append(stage),
    )
    again = {p.name: p.read_bytes() for p in (out / "stop").iterdir() if p != own}
    assert again == first  # made from the cache, the same draws: the same bytes
    assert "speech" in seen and "clips" in seen
    make_keyword_data("stop", out, count=4, confusable_count=5, voices=[voice], jobs=1)
    assert len(list((out / "stop").glob("*_nohash_*.wav"))) == 4
    assert len(list((out / "_unknown_").glob("*.wav"))) == 5 and own.exists()


def test_synth_command_prints_each_voice_and_refuses_a_phrase_without_words(
    tmp_path, voice, capsys
):
    out = tmp_path / "kitchen"
    argv = ["synth", "hey kitchen", "--out", str(out), "--count", "4", "--voices", voice]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert voice.replace(":", "-") in printed and "hey_kitchen" in printed
    assert len(list((out / "hey_kitchen").glob("*.wav"))) == 4
    assert main(["synth", "!!", "--out", str(out)]) != 0
    assert "no letters" in capsys.readouterr().err
    assert main(["synth", "stop", "--out", str(out), "--noise", str(tmp_path / "none")]) != 0
    assert "--noise" in capsys.readouterr().err
