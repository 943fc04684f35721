"""Negative audio: corpora of any length and format, split by group, decoded in blocks into a
cache, with the keyword spans of an alignment file kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from gru_edge.negatives import NegativeAudioError, load_negatives, overlaps


def _write(path, seconds: float, rate: int = 16000, seed: int = 0, fmt: str | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.random.default_rng(seed).normal(0, 0.1, int(seconds * rate)).astype(np.float32)
    soundfile.write(path, audio, rate, format=fmt)
    return audio


def test_groups_are_split_whole_and_every_split_gets_one(tmp_path):
    speech = tmp_path / "speech"
    for speaker in range(10):
        for utterance in range(2):
            _write(speech / f"spk{speaker}" / f"{speaker}-{utterance}.flac", 1.0, seed=speaker)
    audio = load_negatives([speech], ["yes"], 16000, tmp_path / "cache")
    splits = {r.group: r.split for r in audio.recordings}
    assert len(splits) == 10 and set(splits.values()) == {"train", "validation", "test"}
    for recording in audio.recordings:  # both files of a speaker in the same split
        assert recording.split == splits[recording.group] and recording.length == 16000
    assert audio.seconds("train") + audio.seconds("validation") + audio.seconds("test") == 20


def test_a_corpus_of_few_recordings_is_cut_in_time(tmp_path):
    noise = tmp_path / "noise"
    whole = _write(noise / "boiler.ogg", 10.0, rate=22050, fmt="OGG")
    audio = load_negatives([noise], ["yes"], 16000, tmp_path / "cache")
    parts = {r.split: r for r in audio.recordings}
    assert [parts[s].start for s in ("train", "validation", "test")] == sorted(
        parts[s].start for s in parts
    )
    assert parts["train"].end == parts["validation"].start
    assert abs(sum(r.length for r in audio.recordings) - 160000) <= 2  # resampled to 16 kHz
    window = audio.window(parts["train"], 0, 16000)
    assert window.dtype == np.float32 and 0.05 < window.std() < 0.15 < np.abs(whole).max()


def test_decoding_is_cached_and_done_once(tmp_path):
    folder = tmp_path / "speech"
    _write(folder / "a" / "x.wav", 2.0)
    first = load_negatives([folder], ["yes"], 16000, tmp_path / "cache")
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].stat().st_size == 2 * 32000
    mtime = cached[0].stat().st_mtime_ns
    again = load_negatives([folder], ["yes"], 16000, tmp_path / "cache")
    assert cached[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(
        first.samples(first.recordings[0]), again.samples(again.recordings[0])
    )


def test_keyword_spans_come_from_the_alignments(tmp_path):
    corpus = tmp_path / "libri"
    _write(corpus / "19" / "19-198-0001.flac", 3.0)
    (corpus / "word_alignments.json").write_text(
        json.dumps(
            {
                "19-198-0001": [
                    ["<sil>", 0.0, 0.5],
                    ["STOP(2)", 0.5, 0.9],
                    ["stopped", 1.0, 1.4],
                    ["on", 2.0, 2.2],
                ]
            }
        )
    )
    audio = load_negatives([corpus], ["stop", "on"], 16000, tmp_path / "cache")
    recording = audio.split("train")[0]  # one group: cut in time, the spans in its first 70 %
    assert [(s.keyword, s.start, s.end) for s in recording.spans] == [
        ("stop", 8000, 14400),
        ("on", 32000, 33600),  # up to the end of the part: 70 % of 3 s
    ]
    assert not any(overlaps(a, b, 16000, 32000) for _, a, b in recording.spans[1:])
    assert overlaps(*recording.spans[1][1:], 16000, 32001)
    cut = audio.split("validation")[0]  # the cut at 2.1 s goes through the "on" (2.0-2.2 s)
    assert [(s.keyword, s.start, s.end) for s in cut.spans] == [("on", 0, 35200 - 33600)]


def test_bad_folders_and_files_are_named(tmp_path):
    with pytest.raises(NegativeAudioError, match="does not exist"):
        load_negatives([tmp_path / "nowhere"], ["yes"], 16000, tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NegativeAudioError, match="holds no audio files"):
        load_negatives([tmp_path / "empty"], ["yes"], 16000, tmp_path / "cache")
    folder = tmp_path / "mixed"
    _write(folder / "good.wav", 1.0)
    (folder / "broken.flac").write_bytes(b"fLaC not really")
    audio = load_negatives([folder], ["yes"], 16000, tmp_path / "cache")
    assert [r.path.name for r in audio.recordings] == ["good.wav"] * len(audio.recordings)
    assert audio.skipped[0][0].endswith("broken.flac") and "cannot decode" in audio.skipped[0][1]
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "only.flac").write_bytes(b"fLaC not really")
    with pytest.raises(NegativeAudioError, match="no file of negative audio folder .* decoded"):
        load_negatives([tmp_path / "broken"], ["yes"], 16000, tmp_path / "cache")
    (tmp_path / "mixed" / "word_alignments.json").write_text("[1, 2]")
    with pytest.raises(NegativeAudioError, match="word_alignments.json: not"):
        load_negatives([folder], ["yes"], 16000, tmp_path / "cache")
