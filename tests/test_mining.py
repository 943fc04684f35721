"""Hard negatives: `gru-edge mine` keeps the windows where a model fires on negative audio,
but not where a marked keyword really is spoken, and a training round learns from them."""

from __future__ import annotations

import json

import numpy as np
import soundfile
from datasets import word_clip

from gru_edge.cli import main
from gru_edge.negatives import load_windows


def _negatives(root, rng):
    """Six speakers of faint noise; each says a tone "yes" at 3 s, marked in the
    alignments for speakers a-c only."""
    alignments = {}
    for speaker in "abcdef":
        audio = rng.normal(0, 0.003, 16000 * 8).astype(np.float32)
        audio[48000:64000] += word_clip("yes", rng)
        (root / speaker).mkdir(parents=True)
        soundfile.write(root / speaker / f"{speaker}-1.wav", audio, 16000)
        if speaker in "abc":
            alignments[f"{speaker}-1"] = [["yes", 3.2, 4.0]]
    (root / "word_alignments.json").write_text(json.dumps(alignments))
    return root


def test_mining_keeps_unmarked_detections_of_one_split(committed_models, tmp_path, capsys):
    audio = _negatives(tmp_path / "talk", np.random.default_rng(2))
    out = tmp_path / "mined"
    args = ["mine", str(committed_models["int8"]), "--audio", str(audio), "--out", str(out)]
    assert main([*args, "--split", "train"]) == 0
    summary = json.loads(capsys.readouterr().out)
    mined = [json.loads(line) for line in (out / "mined.jsonl").read_text().splitlines()]
    sources = {m["source"].split("/")[-2] for m in mined}
    assert summary["windows"] == len(mined) and sources <= set("def")  # a-c are marked
    assert summary["hours"] == 4 * 8 / 3600  # four of the six speakers train
    assert all(m["keyword"] == "yes" and 3.0 < m["time"] < 4.8 for m in mined)
    assert sources, "the tiny model hears none of the unmarked words"
    windows = load_windows([out], 16000, 16000)
    assert windows.shape == (len(mined), 16000) and windows.dtype == np.int16
    assert np.abs(windows).max() > 0.1 * 32768  # the tone "yes" is inside each window
