"""The spotter on a device: sources, the iterator and the callback, Ctrl-C, bad audio and the
`stream` command in this process; on the committed tiny models, base install only."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from signals import pcm16, write_wav

from gru_edge.audio import INT16_SCALE, read_audio
from gru_edge.cli import main
from gru_edge.errors import AudioError, GruEdgeError
from gru_edge.modelfile import ModelFileError
from gru_edge.runtime.sources import PcmSource, Source, WavSource
from gru_edge.runtime.spotter import KeywordSpotter

pytestmark = pytest.mark.device


def keywords(model: Path, source) -> list[str]:
    """The keywords a new spotter hears in `source`."""
    return [d.keyword for d in KeywordSpotter(model).detections(source)]


def test_the_spotter_hears_the_words_in_order_from_an_iterator_or_a_callback(
    committed_models, yes_no
):
    _, path = yes_no
    for quantization in ("float32", "int8"):
        spotter = KeywordSpotter(committed_models[quantization])
        heard = list(spotter.detections(WavSource(path)))
        assert [d.keyword for d in heard] == ["yes", "no"], quantization
        assert 1.2 < heard[0].time < 2.2 and 3.6 < heard[1].time < 4.7
        called = []
        spotter.reset()
        spotter.run(WavSource(path), called.append)
        assert [(d.keyword, d.time) for d in called] == [(d.keyword, d.time) for d in heard]


def test_process_gives_the_frames_behind_the_detections(committed_models, yes_no):
    audio, _ = yes_no
    spotter = KeywordSpotter(committed_models["int8"])
    pieces = [spotter.process(audio[i : i + 1234]) for i in range(0, len(audio), 1234)]
    times = np.concatenate([p.times for p in pieces])
    scores = np.concatenate([p.scores for p in pieces])
    smoothed = np.concatenate([p.smoothed for p in pieces])
    assert len(times) == len(scores) == len(smoothed) == 1 + (len(audio) - 400) // 160
    np.testing.assert_allclose(times[:2], [0.025, 0.035])  # a frame ends 25 ms in, then 10 ms
    detections = [d for p in pieces for d in p.detections]
    whole = KeywordSpotter(committed_models["int8"]).process(audio)  # the same, at once
    assert detections == whole.detections and [d.keyword for d in detections] == ["yes", "no"]
    np.testing.assert_array_equal(times, whole.times)
    for detection in detections:  # a detection is where its smoothed score is
        frame = int(np.argmin(np.abs(times - detection.time)))
        index = spotter.labels.index(detection.keyword)
        assert smoothed[frame, index] == pytest.approx(detection.score, abs=1e-6)
        assert smoothed[frame, index] >= spotter.thresholds[detection.keyword]
    assert spotter.seconds_heard == pytest.approx(len(audio) / 16000)


def test_calibrated_thresholds_are_used_unless_one_threshold_is_given(committed_models):
    spotter = KeywordSpotter(committed_models["int8"])
    assert spotter.thresholds == spotter.metadata.thresholds
    assert set(KeywordSpotter(committed_models["int8"], threshold=0.7).thresholds.values()) == {0.7}


def test_ctrl_c_stops_the_spotter_cleanly_and_closes_the_source(committed_models, yes_no):
    audio, _ = yes_no

    class Interrupted(Source):
        closed = False

        def __iter__(self):
            yield from (audio[i : i + 1600] for i in range(0, 8000, 1600))
            raise KeyboardInterrupt

        def close(self):
            self.closed = True

    source = Interrupted()
    spotter = KeywordSpotter(committed_models["float32"])
    spotter.run(source, lambda d: None)
    assert source.closed and spotter.seconds_heard == 0.5


def test_a_threshold_of_one_hears_nothing(committed_models, yes_no):
    _, path = yes_no
    spotter = KeywordSpotter(committed_models["float32"], threshold=1.0)
    assert list(spotter.detections(WavSource(path))) == []


def test_raw_pcm_is_read_in_any_block_size_and_channel_count(yes_no):
    audio, path = yes_no
    pcm = pcm16(audio)
    source = PcmSource(io.BufferedReader(io.BytesIO(pcm.tobytes())), block_ms=33)
    np.testing.assert_array_equal(np.concatenate(list(source)), read_audio(path))
    stereo = np.repeat(pcm[:, np.newaxis], 2, axis=1)
    two = PcmSource(io.BytesIO(stereo.tobytes()), channels=2)
    np.testing.assert_allclose(np.concatenate(list(two)), pcm / INT16_SCALE, atol=1e-6)


def test_pcm_or_a_wav_file_at_another_rate_or_in_stereo_is_converted(
    committed_models, yes_no, tmp_path
):
    soxr = pytest.importorskip("soxr", reason="resampling needs the `audio` extra")
    audio, _ = yes_no
    fast = soxr.resample(audio, 16000, 44100)
    resampled = np.concatenate(list(PcmSource(io.BytesIO(pcm16(fast).tobytes()), rate=44100)))
    assert abs(len(resampled) - len(audio)) <= 2
    assert keywords(committed_models["float32"], [resampled]) == ["yes", "no"]
    stereo = write_wav(tmp_path / "stereo_44k.wav", np.stack([fast, fast], axis=1), 44100)
    assert keywords(committed_models["int8"], WavSource(stereo)) == ["yes", "no"]


def test_realtime_pacing_takes_the_audio_duration(yes_no, tmp_path):
    audio, _ = yes_no
    path = write_wav(tmp_path / "short.wav", audio[:8000])
    start = time.monotonic()
    assert sum(len(b) for b in WavSource(path, realtime=True)) == 8000
    assert time.monotonic() - start >= 0.4


def test_bad_audio_or_a_missing_model_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    with pytest.raises(AudioError, match="holds no audio"):
        WavSource(write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32)))
    monkeypatch.setitem(sys.modules, "soxr", None)  # the base install has no resampler
    with pytest.raises(GruEdgeError, match=r"44100 Hz.* needs the optional package soxr"):
        PcmSource(io.BytesIO(b""), rate=44100)
    fast = write_wav(tmp_path / "fast.wav", np.zeros(4410, np.float32), 44100)
    with pytest.raises(GruEdgeError, match=r"is 44100 Hz.* needs the optional package soxr"):
        WavSource(fast)
    with pytest.raises(ModelFileError, match="cannot read the model"):
        KeywordSpotter(tmp_path / "missing.tflite")


def test_stream_command_prints_the_detections_of_a_file(committed_models, yes_no, capsys):
    _, wav = yes_no
    assert main(["stream", str(committed_models["int8"]), str(wav)]) == 0
    captured = capsys.readouterr()
    assert [line.split()[2] for line in captured.out.splitlines()] == ["yes", "no"]
    assert "5.50 s of audio, 2 detection(s)" in captured.err
