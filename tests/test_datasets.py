"""Datasets: the layouts, the splits, silence and unknown classes, and bad files."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import soundfile
from datasets import make_dataset, word_clip

from gru_edge.config import DataConfig
from gru_edge.datasets import (
    SILENCE,
    UNKNOWN,
    DatasetError,
    fit_clip,
    index_dataset,
    load_dataset,
    which_split,
)

WORDS = ("yes", "no")


def config(**changes) -> DataConfig:
    return DataConfig(words=WORDS, **changes)


def test_lists_decide_the_splits_and_labels_come_in_model_order(tmp_path):
    root = make_dataset(tmp_path / "data")
    index = index_dataset(root, config())
    assert index.layout == "folders" and index.labels == (SILENCE, UNKNOWN, "yes", "no")
    listed = set((root / "validation_list.txt").read_text().split())
    for ref in index.splits["validation"]:
        if ref.path is not None and ref.label != UNKNOWN:
            assert ref.path.relative_to(root).as_posix() in listed
    speakers = {
        split: {r.path.name.split("_")[0] for r in refs if r.path}
        for split, refs in index.splits.items()
    }
    assert speakers["validation"] == {"spk000", "spk001"} and speakers["test"] == {"spk002"}


@pytest.mark.parametrize("percentage", [0.0, 10.0, 25.0])
def test_silence_and_unknown_are_a_share_of_the_keyword_clips(tmp_path, percentage):
    root = make_dataset(tmp_path / "data")
    index = index_dataset(
        root, config(silence_percentage=percentage, unknown_percentage=percentage)
    )
    for split, refs in index.splits.items():
        counts = Counter(r.label for r in refs)
        keywords = counts["yes"] + counts["no"]
        expected = math.ceil(keywords * percentage / 100)
        assert counts[SILENCE] == expected
        assert counts[UNKNOWN] == expected  # the pool (up, cat, dog) is large enough
        unknown_words = {r.path.parent.name for r in refs if r.label == UNKNOWN}
        assert unknown_words <= {"up", "cat", "dog"}, split


def test_without_lists_the_speaker_hash_splits_and_never_splits_a_speaker(tmp_path):
    root = make_dataset(tmp_path / "data", speakers=30, lists=False)
    index = index_dataset(root, config())
    split_of_speaker = {}
    for split, refs in index.splits.items():
        for ref in refs:
            if ref.path is not None:
                speaker = ref.path.name.split("_nohash_")[0]
                assert split_of_speaker.setdefault(speaker, split) == split


def test_the_hash_rule_gives_the_configured_shares():
    splits = Counter(which_split(f"{i:08x}_nohash_0.wav", 10, 20) for i in range(20000))
    assert splits["validation"] / 20000 == pytest.approx(0.10, abs=0.01)
    assert splits["test"] / 20000 == pytest.approx(0.20, abs=0.01)
    assert which_split("abc_nohash_0.wav", 10, 20) == which_split("dir/abc_nohash_7.wav", 10, 20)


def test_reads_the_official_test_archive_layout(tmp_path):
    rng = np.random.default_rng(0)
    for label in (SILENCE, UNKNOWN, "yes", "no"):
        (tmp_path / label).mkdir()
        for i in range(3):
            soundfile.write(tmp_path / label / f"c{i}.wav", word_clip("yes", rng), 16000)
    index = index_dataset(tmp_path, config())
    assert index.layout == "test_archive"
    assert not index.splits["train"] and not index.splits["validation"]
    assert Counter(r.label for r in index.splits["test"]) == {
        SILENCE: 3,
        UNKNOWN: 3,
        "yes": 3,
        "no": 3,
    }


def test_loads_clips_of_the_clip_length_with_silence_from_the_split_noise(tmp_path):
    root = make_dataset(tmp_path / "data")
    dataset = load_dataset(root, config(silence_dbfs=(-40.0, -20.0)), 16000)
    train = dataset.clips["train"]
    assert train.audio.shape[1] == 16000 and train.audio.dtype == np.int16
    silence = train.audio[train.labels == 0].astype(np.float64) / 32768
    levels = 20 * np.log10(np.sqrt(np.mean(silence**2, axis=1)))
    assert len(levels) and levels.min() >= -40.1 and levels.max() <= -19.9
    # Each noise file is cut in time: 80 % for training, 10 % validation, 10 % test.
    assert [len(n) for n in dataset.noise["train"]] == [int(15 * 16000 * 0.8)] * 2
    assert [len(n) for n in dataset.noise["test"]] == [15 * 16000 - int(15 * 16000 * 0.9)] * 2
    assert "2 files in _background_noise_/" in dataset.noise_source


def test_without_a_noise_folder_silence_comes_from_generated_noise(tmp_path):
    dataset = load_dataset(make_dataset(tmp_path / "data", noise=False), config(), 16000)
    assert "generated white and pink noise" in dataset.noise_source
    assert (dataset.clips["train"].labels == 0).sum() > 0


def test_fit_clip_pads_short_clips_and_keeps_the_loudest_second_of_long_ones():
    short = np.ones(1000, np.float32)
    np.testing.assert_array_equal(fit_clip(short, 1600)[:1000], short)
    assert fit_clip(short, 1600)[1000:].sum() == 0
    long = np.zeros(5000, np.float32)
    long[3000:3400] = 1.0
    window = fit_clip(long, 1600)
    assert len(window) == 1600 and window.sum() == 400


def test_unreadable_files_are_skipped_reported_and_counted(tmp_path):
    root = make_dataset(tmp_path / "data")
    (root / "yes" / "spk005_nohash_9.wav").write_bytes(b"RIFF\x00\x00")
    (root / "no" / "spk006_nohash_9.wav").write_bytes(b"")
    dataset = load_dataset(root, config(), 16000)
    reasons = dict(dataset.skipped)
    assert len(reasons) == 2
    assert "the file is empty" in reasons[str(root / "no" / "spk006_nohash_9.wav")]
    assert len(dataset.clips["train"]) == sum(1 for r in dataset.index.splits["train"]) - 2


def test_clear_errors_for_missing_empty_or_wordless_data(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        index_dataset(tmp_path / "nowhere", config())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no audio"):
        index_dataset(tmp_path / "empty", config())
    root = make_dataset(tmp_path / "data")
    with pytest.raises(DatasetError, match=r"no clips for keyword\(s\) \['marvin'\].*folders: "):
        index_dataset(root, DataConfig(words=("yes", "marvin")))


@pytest.mark.reliability(
    area="training",
    fault="a corrupt or empty WAV in _background_noise_",
    outcome="skipped and listed with its reason like a bad clip; the other noise is used",
)
def test_an_unreadable_noise_file_is_skipped_like_a_clip(tmp_path):
    root = make_dataset(tmp_path / "data")
    broken = root / "_background_noise_" / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00")
    dataset = load_dataset(root, config(), 16000)
    reasons = dict(dataset.skipped)
    assert list(reasons) == [str(broken)] and str(broken) in reasons[str(broken)]
    assert len(dataset.noise["train"]) == 2  # the two good recordings
    assert "2 files in _background_noise_/ (1 unreadable, skipped)" in dataset.noise_source


def test_with_no_readable_noise_file_silence_comes_from_generated_noise(tmp_path):
    root = make_dataset(tmp_path / "data")
    for path in (root / "_background_noise_").iterdir():
        path.write_bytes(b"")
    dataset = load_dataset(root, config(), 16000)
    assert len(dataset.skipped) == 2
    expected = "generated white and pink noise (no readable file in _background_noise_/)"
    assert dataset.noise_source == expected
    assert (dataset.clips["train"].labels == 0).sum() > 0
