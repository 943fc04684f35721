"""The model gru_edge ships: it loads through the runtime, says what it is, and hears the
keywords of the demo recording in the order they are spoken (none for the other word)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gru_edge.cli import main
from gru_edge.runtime.spotter import default_model
from gru_edge.runtime.stream import StreamingModel

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo.wav"
LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off"]
LABELS += ["stop", "go"]
SPOKEN = ["yes", "stop", "left", "go", "off"]  # tools/make_demo_recording.py, "bird" left out


@pytest.mark.parametrize("quantization", ["dynamic", "int8", "float32"])
def test_the_shipped_files_carry_what_the_runtime_needs(quantization):
    path = default_model().with_name(f"kws12.{quantization}.tflite")
    model = StreamingModel(path)
    meta = model.metadata
    assert list(model.labels) == LABELS and meta.quantization == quantization
    assert meta.features.sample_rate == 16000 and meta.features.hop_ms == 10.0
    assert "CC BY 4.0" in meta.training_data
    assert meta.checksum.startswith("sha256:")  # and it matched: StreamingModel checks it
    chunk = np.zeros((meta.chunk_frames, meta.features.num_mel_bins), np.float32)
    scores = model.process(chunk)
    assert scores.shape == (meta.chunk_frames, 12)
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=0.02)


def test_the_default_model_hears_the_demo_keywords_in_order(capsys):
    assert default_model().name == "kws12.dynamic.tflite"
    assert main(["stream", str(DEMO), "--json"]) == 0
    heard = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    keywords = [d["keyword"] for d in heard]
    assert len(keywords) >= 3 and len(set(keywords)) == len(keywords)
    assert keywords == [w for w in SPOKEN if w in keywords]  # in order, nothing unspoken
    times = [d["time"] for d in heard]
    assert times == sorted(times) and times[-1] < 17.0


def test_the_demo_prints_its_detections_and_draws_the_timeline(tmp_path):
    png = tmp_path / "timeline.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--png", str(png)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "keyword(s) detected" in result.stdout and png.stat().st_size > 10_000
