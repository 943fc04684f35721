"""The device runtime: audio in pieces of any size, sources, the spotter, and bad input."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from gru_edge.cli import main
from gru_edge.errors import AudioError, GruEdgeError
from gru_edge.modelfile import ModelFileError, read_metadata
from gru_edge.runtime.sources import PcmSource, Source, SourceError, WavSource
from gru_edge.runtime.spotter import KeywordSpotter
from gru_edge.runtime.stream import AudioStream, StreamingModel
from gru_edge.training.export import embed_metadata


@pytest.fixture(scope="module")
def models(tiny_models):
    _, out = tiny_models
    return {q: out.with_name(f"tiny.{q}.tflite") for q in ("float32", "int8")}


@pytest.mark.parametrize("quantization", ["float32", "int8"])
@pytest.mark.parametrize("piece", [1, 160, 512, 1600, 16000])
def test_pieces_of_any_size_give_the_same_scores(models, yes_no, quantization, piece):
    audio, _ = yes_no
    whole = AudioStream(models[quantization]).accept(audio)
    stream = AudioStream(models[quantization])
    pieces = np.concatenate(
        [stream.accept(audio[i : i + piece]) for i in range(0, len(audio), piece)]
    )
    assert pieces.shape == whole.shape == (1 + (len(audio) - 400) // 160, 4)
    np.testing.assert_array_equal(pieces, whole)


def test_two_streams_can_share_one_model_through_their_state(models, yes_no):
    audio, _ = yes_no
    alone = AudioStream(models["float32"]).accept(audio)
    shared = AudioStream(models["float32"])
    states = [shared.state, shared.state]
    outputs = [[], []]
    for start in range(0, len(audio), 1000):
        for k in (0, 1):
            shared.state = states[k]
            outputs[k].append(shared.accept(audio[start : start + 1000]))
            states[k] = shared.state
    for output in outputs:
        np.testing.assert_array_equal(np.concatenate(output), alone)


def test_the_spotter_hears_the_words_in_order_from_an_iterator_or_a_callback(models, yes_no):
    audio, path = yes_no
    for quantization in ("float32", "int8"):
        spotter = KeywordSpotter(models[quantization])
        heard = list(spotter.detections(WavSource(path)))
        assert [d.keyword for d in heard] == ["yes", "no"], quantization
        assert 1.2 < heard[0].time < 2.2 and 3.6 < heard[1].time < 4.7
        called = []
        spotter.reset()
        spotter.run(WavSource(path), called.append)
        assert [(d.keyword, d.time) for d in called] == [(d.keyword, d.time) for d in heard]


def test_ctrl_c_stops_the_spotter_cleanly_and_closes_the_source(models, yes_no):
    audio, _ = yes_no

    class Interrupted(Source):
        closed = False

        def __iter__(self):
            yield from (audio[i : i + 1600] for i in range(0, 8000, 1600))
            raise KeyboardInterrupt

        def close(self):
            self.closed = True

    source = Interrupted()
    spotter = KeywordSpotter(models["float32"])
    spotter.run(source, lambda d: None)
    assert source.closed and spotter.seconds_heard == 0.5


def test_a_threshold_of_one_hears_nothing(models, yes_no):
    _, path = yes_no
    assert list(KeywordSpotter(models["float32"], threshold=1.0).detections(WavSource(path))) == []


def test_raw_pcm_is_read_in_any_block_size_and_resampled(models, yes_no):
    audio, path = yes_no
    pcm = (audio * 32767).astype("<i2")
    source = PcmSource(io.BufferedReader(io.BytesIO(pcm.tobytes())), block_ms=33)
    np.testing.assert_allclose(np.concatenate(list(source)), WavSource(path).samples, atol=1e-4)
    stereo = np.repeat(pcm[:, np.newaxis], 2, axis=1)
    two = PcmSource(io.BytesIO(stereo.tobytes()), channels=2)
    np.testing.assert_allclose(np.concatenate(list(two)), pcm / 32768, atol=1e-6)
    import soxr

    fast = soxr.resample(audio, 16000, 44100)
    resampled = np.concatenate(
        list(PcmSource(io.BytesIO((fast * 32767).astype("<i2").tobytes()), rate=44100))
    )
    assert abs(len(resampled) - len(audio)) <= 2
    heard = KeywordSpotter(models["float32"]).detections([resampled])
    assert [d.keyword for d in heard] == ["yes", "no"]


def test_a_wav_file_at_another_rate_or_in_stereo_is_converted(models, yes_no, tmp_path):
    audio, _ = yes_no
    import soxr

    stereo = tmp_path / "stereo_44k.wav"
    fast = soxr.resample(audio, 16000, 44100)
    soundfile.write(stereo, np.stack([fast, fast], axis=1), 44100)
    heard = KeywordSpotter(models["int8"]).detections(WavSource(stereo))
    assert [d.keyword for d in heard] == ["yes", "no"]


def test_realtime_pacing_takes_the_audio_duration(yes_no, tmp_path):
    audio, _ = yes_no
    path = tmp_path / "short.wav"
    soundfile.write(path, audio[:8000], 16000)
    start = time.monotonic()
    assert sum(len(b) for b in WavSource(path, realtime=True)) == 8000
    assert time.monotonic() - start >= 0.4


def test_bad_audio_is_refused_with_a_clear_message(models, tmp_path, monkeypatch):
    stream = AudioStream(models["float32"])
    with pytest.raises(AudioError, match="NaN or infinite"):
        stream.accept(np.array([0.0, np.nan, 0.0], np.float32))
    with pytest.raises(AudioError, match="expected mono samples"):
        stream.accept(np.zeros((1600, 2), np.float32))
    assert stream.accept(np.zeros(0, np.float32)).shape == (0, 4)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="holds no audio"):
        WavSource(empty)
    monkeypatch.setitem(sys.modules, "soxr", None)  # the base install has no resampler
    with pytest.raises(SourceError, match=r"44100 Hz .* needs soxr"):
        PcmSource(io.BytesIO(b""), rate=44100)
    fast = tmp_path / "fast.wav"
    soundfile.write(fast, np.zeros(4410, np.float32), 44100)
    with pytest.raises(AudioError, match="is 44100 Hz.*needs soxr"):
        WavSource(fast)


def test_a_model_with_a_wrong_state_shape_or_no_metadata_is_refused(models, tmp_path):
    good = models["float32"]
    meta = read_metadata(good)
    wrong = dataclasses.replace(
        meta, states=(meta.states[0], dataclasses.replace(meta.states[1], shape=(1, 64)))
    )
    (tmp_path / "wrong.tflite").write_bytes(embed_metadata(good.read_bytes(), wrong))
    with pytest.raises(ModelFileError, match=r"shape \[1, 32\] where its metadata says \[1, 64\]"):
        StreamingModel(tmp_path / "wrong.tflite")
    with pytest.raises(ModelFileError, match="cannot read the model"):
        KeywordSpotter(tmp_path / "missing.tflite")


def test_stream_command_prints_detections_of_a_file_or_of_pcm_on_stdin(models, yes_no, capsys):
    audio, wav = yes_no
    assert main(["stream", str(models["int8"]), str(wav)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split()[2] for line in lines] == ["yes", "no"]
    assert "5.50 s of audio, 2 detection(s)" in captured.err
    pcm = (audio * 32767).astype("<i2").tobytes()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "gru-edge"),
            "stream",
            str(models["float32"]),
            "-",
            "--json",
        ],
        input=pcm,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    heard = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [h["keyword"] for h in heard] == ["yes", "no"]
    assert set(heard[0]) == {"keyword", "time", "score"}


def test_kernels_can_be_chosen_and_reference_kernels_agree(models, yes_no):
    audio, _ = yes_no
    for quantization, tolerance in (("float32", 1e-5), ("int8", 0.1)):
        fast = AudioStream(StreamingModel(models[quantization])).accept(audio)
        reference = AudioStream(StreamingModel(models[quantization], kernels="reference"))
        assert np.abs(reference.accept(audio) - fast).max() <= tolerance
    with pytest.raises(GruEdgeError, match="unknown kernels 'fastest'"):
        StreamingModel(models["int8"], kernels="fastest")
