"""The runtime tests that cannot run on a device (those that can are in tests/device): they
write model files with the export's metadata writer, or start Python again."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from signals import pcm16

from gru_edge.modelfile import ModelFileError, read_metadata
from gru_edge.runtime.stream import StreamingModel
from gru_edge.training.export import embed_metadata


def test_a_model_whose_metadata_has_a_wrong_state_shape_is_refused(committed_models, tmp_path):
    good = committed_models["float32"]
    meta = read_metadata(good)
    wrong = dataclasses.replace(
        meta, states=(meta.states[0], dataclasses.replace(meta.states[1], shape=(1, 64)))
    )
    (tmp_path / "wrong.tflite").write_bytes(embed_metadata(good.read_bytes(), wrong))
    with pytest.raises(ModelFileError, match=r"shape \[1, 32\] where its metadata says \[1, 64\]"):
        StreamingModel(tmp_path / "wrong.tflite")


def test_stream_command_prints_the_detections_of_pcm_on_stdin_as_json(committed_models, yes_no):
    audio, _ = yes_no
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "gru-edge"),
            "stream",
            str(committed_models["float32"]),
            "-",
            "--json",
        ],
        input=pcm16(audio).tobytes(),
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    heard = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [h["keyword"] for h in heard] == ["yes", "no"]
    assert set(heard[0]) == {"keyword", "time", "score"}
