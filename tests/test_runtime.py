"""The runtime tests that cannot run on a device (those that can are in tests/device): they
write model files with the export's metadata writer, or start Python again."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signals import pcm16

from gru_edge.modelfile import ModelFileError, read_metadata
from gru_edge.runtime.stream import AudioStream, StreamingModel
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


@pytest.mark.parametrize("quantization", ["float32", "int8"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 1000),
    sizes=st.lists(st.integers(0, 900), min_size=1, max_size=10).filter(any),
)
def test_a_model_of_several_frames_a_chunk_scores_any_blocks_as_the_whole(
    chunked_models, quantization, seed, sizes
):
    """However small the blocks (the stream gathers samples until the model can run a whole
    chunk), it loses or repeats no frame."""
    model = StreamingModel(chunked_models[quantization])
    signal = np.random.default_rng(seed).normal(0, 0.1, 6000).astype(np.float32)
    stream = AudioStream(model)
    stream.reset()
    whole = stream.accept(signal)
    stream.reset()
    pieces, start, i = [], 0, 0
    while start < len(signal):
        size = sizes[i % len(sizes)]
        pieces.append(stream.accept(signal[start : start + size]))
        start, i = start + size, i + 1
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert len(whole) == 36  # the 36 frames of 6000 samples: 9 chunks of 4


def test_a_caller_reusing_one_buffer_gets_the_scores_of_the_whole(chunked_models):
    """The frames a model holds back for its next chunk are its own, not a view of the
    caller's array, which the caller may fill again."""
    model = StreamingModel(chunked_models["float32"])
    frames = np.random.default_rng(0).normal(-6, 2, (60, 40)).astype(np.float32)
    whole = model.process(frames)
    model.reset()
    buffer = np.empty((6, 40), np.float32)
    pieces = []
    for start in range(0, 60, 6):
        buffer[:] = frames[start : start + 6]
        pieces.append(model.process(buffer))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
