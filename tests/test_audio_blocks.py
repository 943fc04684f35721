"""Audio read in blocks: exactly the samples of the whole file, from files, FIFOs and streams
of unknown length, in memory that does not grow with them; headers that cannot be sound, and
standard input closed, refused in one line."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
from signals import tone
from wavs import UNKNOWN_SIZE, Pipe, RecordingFile, pcm16_wav

from gru_edge.audio import decode_file, open_audio, read_audio
from gru_edge.errors import AudioError
from gru_edge.runtime.sources import PcmSource, SourceError, WavSource

GRU_EDGE = str(Path(sys.executable).parent / "gru-edge")
NOISE = np.random.default_rng(3).integers(-30000, 30000, 16000).astype("<i2")


def whole(blocks) -> np.ndarray:
    return np.concatenate(list(blocks))


@pytest.mark.parametrize(
    ("name", "subtype"),
    [("a.wav", "PCM_16"), ("a.wav", "PCM_24"), ("a.wav", "DOUBLE"), ("a.flac", "PCM_16")],
)
def test_blocks_of_any_size_give_exactly_the_samples_of_the_whole_file(tmp_path, name, subtype):
    rng = np.random.default_rng(len(name + subtype))
    path = tmp_path / name
    soundfile.write(path, rng.uniform(-1, 1, (5000, 2)), 16000, subtype=subtype)
    reference, _ = soundfile.read(path, dtype="float32", always_2d=True)
    np.testing.assert_array_equal(decode_file(path)[0], reference)
    for frames in [1, 3, *rng.integers(2, 6000, 4)]:
        with open_audio(path) as audio:
            blocks = list(audio.blocks(int(frames)))
        assert all(len(b) == frames for b in blocks[:-1]) and 0 < len(blocks[-1]) <= frames
        np.testing.assert_array_equal(whole(blocks), reference)


def test_a_wav_on_a_pipe_with_short_reads_gives_the_samples_of_the_file(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(pcm16_wav(NOISE))
    for piece in (1, 5, 999):
        with open_audio(Pipe(path.read_bytes(), piece), "pipe") as audio:
            np.testing.assert_array_equal(whole(audio.blocks(1600)), decode_file(path)[0])


@pytest.mark.reliability(
    area="audio file",
    fault="a FIFO whose writer never stops",
    outcome="read block by block as the audio arrives, not at the end",
)
def test_a_fifo_is_read_while_its_writer_is_still_writing(tmp_path):
    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)
    first_read = threading.Event()
    header = pcm16_wav(np.zeros(0), data_size=UNKNOWN_SIZE, riff_size=UNKNOWN_SIZE)

    def record() -> None:
        with open(fifo, "wb") as out:
            out.write(header + NOISE.tobytes())
            out.flush()
            first_read.wait(timeout=10)  # the writer goes on until the reader has heard it
            out.write(NOISE.tobytes())

    writer = threading.Thread(target=record)
    writer.start()
    try:
        source = WavSource(fifo)
        blocks = iter(source)
        first = next(blocks)
        heard_while_writing = writer.is_alive()
        first_read.set()
        rest = whole(blocks)
    finally:
        first_read.set()
        writer.join()
    assert heard_while_writing
    np.testing.assert_array_equal(
        np.concatenate([first, rest]), np.tile(NOISE, 2) / np.float32(32768)
    )


@pytest.mark.reliability(
    area="audio file",
    fault="an endless stream of audio (10 minutes read here)",
    outcome="read 100 ms at a time; memory does not grow with the length",
)
def test_an_endless_stream_is_read_in_blocks_in_memory_that_does_not_grow():
    header = pcm16_wav(np.zeros(0), data_size=UNKNOWN_SIZE)
    endless = Pipe(header, endless=True)
    blocks = iter(WavSource(endless, block_ms=100))
    tracemalloc.start()
    try:
        for _ in range(600):  # the first minute: whatever is made once is made
            next(blocks)
        settled = tracemalloc.get_traced_memory()[0]
        for _ in range(6000):  # ten minutes more
            assert len(next(blocks)) == 1600
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now - settled < 4096 and peak < 256 * 1024
    assert 0 < endless.largest_read <= 1600 * 2  # never more than one block's bytes at a time


def test_a_long_file_is_read_one_block_of_bytes_at_a_time():
    file = RecordingFile(pcm16_wav(np.tile(NOISE, 60)))  # one minute
    source = WavSource(file, block_ms=100)
    assert sum(len(block) for block in source) == 60 * 16000
    assert 0 < file.largest_read <= 1600 * 2


@pytest.mark.reliability(
    area="audio file",
    fault="'length unknown' WAV header (sizes 0xFFFFFFFF, as arecord/ffmpeg pipe)",
    outcome="read to the end of the file or pipe",
)
@pytest.mark.parametrize("sizes", ["data", "riff", "both"])
def test_the_length_unknown_header_is_read_to_the_end(tmp_path, sizes, caplog):
    content = pcm16_wav(
        NOISE,
        data_size=UNKNOWN_SIZE if sizes in ("data", "both") else None,
        riff_size=UNKNOWN_SIZE if sizes in ("riff", "both") else None,
    )
    path = tmp_path / "unknown.wav"
    path.write_bytes(content)
    expected = NOISE / np.float32(32768)
    np.testing.assert_array_equal(read_audio(path), expected)
    np.testing.assert_array_equal(whole(WavSource(path)), expected)
    np.testing.assert_array_equal(whole(WavSource(Pipe(content, 777))), expected)
    assert not caplog.records


def test_a_pipe_may_end_before_the_size_its_header_declares(caplog):
    content = pcm16_wav(NOISE, data_size=0x7FFFFFFE)  # arecord's "as long as it lasts"
    np.testing.assert_array_equal(whole(WavSource(Pipe(content))), NOISE / np.float32(32768))
    assert not caplog.records


@pytest.mark.reliability(
    area="audio file",
    fault="WAV file cut short: data chunk declares more than the file holds",
    outcome="decodes the whole frames there, with a warning naming the file",
)
def test_a_truncated_wav_file_is_decoded_as_far_as_it_goes_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.wav"
    path.write_bytes(pcm16_wav(NOISE)[:-1001])  # ends in the middle of a frame
    with caplog.at_level(logging.WARNING, logger="gru_edge"):
        samples = read_audio(path)
    np.testing.assert_array_equal(samples, NOISE[:-501] / np.float32(32768))
    assert "cut.wav: its data chunk declares 32000 bytes but the file holds 30999" in caplog.text
    np.testing.assert_array_equal(whole(WavSource(path)), samples)


@pytest.mark.reliability(
    area="audio file",
    fault="WAV header claims a rate outside 1 kHz-384 kHz (1 Hz, 4 GHz)",
    outcome="AudioError naming the file and the rate, before any audio is read",
)
@pytest.mark.parametrize("rate", [1, 999, 384001, 4_000_000_000])
def test_rates_that_cannot_be_sound_are_refused(tmp_path, rate):
    path = tmp_path / "odd.wav"
    path.write_bytes(pcm16_wav(NOISE, rate=rate))
    with pytest.raises(AudioError, match=rf"odd\.wav: .*{rate} Hz.*1000 to 384000 Hz"):
        read_audio(path)
    with pytest.raises(AudioError, match=rf"odd\.wav: .*{rate} Hz"):
        WavSource(path)


def test_the_extreme_sound_rates_are_read(tmp_path):
    for rate in (1000, 384000):
        path = tmp_path / f"{rate}.wav"
        path.write_bytes(pcm16_wav(NOISE[:4000], rate=rate))
        samples, found = decode_file(path)
        assert found == rate and len(samples) == 4000


def run_stream(*arguments: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRU_EDGE, "stream", *arguments], capture_output=True, text=True, timeout=120, **kwargs
    )


@pytest.mark.reliability(
    area="audio file",
    fault="`gru-edge stream` of a WAV claiming 1 Hz or 4 GHz",
    outcome="exit 2, one line naming the file and the rate, no traceback",
)
@pytest.mark.parametrize("rate", [1, 4_000_000_000])
def test_the_stream_command_refuses_an_impossible_rate_in_one_line(
    committed_models, tmp_path, rate
):
    path = tmp_path / "odd.wav"
    path.write_bytes(pcm16_wav(NOISE, rate=rate))
    result = run_stream(str(committed_models["int8"]), str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"gru-edge: error: {path}: ")
    assert f"{rate} Hz" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.reliability(
    area="raw PCM",
    fault="`gru-edge stream -` with standard input closed",
    outcome="exit 2, one line saying stdin is closed, no traceback",
)
def test_the_stream_command_says_when_standard_input_is_closed(committed_models, monkeypatch):
    closed = ["sh", "-c", 'exec "$0" "$@" <&-', GRU_EDGE, "stream"]
    result = subprocess.run(
        [*closed, str(committed_models["int8"]), "-"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("gru-edge: error: standard input is closed")
    assert result.stderr.count("\n") == 1
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(SourceError, match="standard input is closed"):
        PcmSource()


@pytest.mark.reliability(
    area="raw PCM",
    fault="`gru-edge stream -` typed at a terminal (stdin not a pipe)",
    outcome="exit 2, one line saying stdin is a terminal, instead of waiting for ever",
)
def test_the_stream_command_does_not_wait_for_audio_typed_at_a_terminal(committed_models):
    terminal, its_other_end = pty.openpty()
    try:
        result = run_stream(str(committed_models["int8"]), "-", stdin=its_other_end)
    finally:
        os.close(terminal)
        os.close(its_other_end)
    assert result.returncode == 2
    assert result.stderr.startswith("gru-edge: error: standard input is a terminal")
    assert result.stderr.count("\n") == 1


@pytest.mark.reliability(
    area="raw PCM",
    fault="a PCM rate outside 1 kHz-384 kHz (--rate 1)",
    outcome="AudioError naming the rate, before anything is read",
)
@pytest.mark.parametrize("rate", [1, 999, 384001])
def test_raw_pcm_at_a_rate_that_cannot_be_sound_is_refused(rate):
    with pytest.raises(AudioError, match=rf"raw PCM: {rate} Hz.*1000 to 384000 Hz"):
        PcmSource(io.BytesIO(NOISE.tobytes()), rate=rate)


def test_what_a_pipe_cannot_give_is_refused_naming_the_reason(tmp_path):
    fmt_after_data = pcm16_wav(NOISE)
    fmt_after_data = fmt_after_data[:12] + fmt_after_data[36:] + fmt_after_data[12:36]
    path = tmp_path / "late_fmt.wav"
    path.write_bytes(fmt_after_data)
    np.testing.assert_array_equal(read_audio(path), NOISE / np.float32(32768))  # a file can seek
    with pytest.raises(AudioError, match="pipe: its data chunk comes before its 'fmt ' chunk"):
        WavSource(Pipe(fmt_after_data), name="pipe")
    flac = io.BytesIO()
    soundfile.write(flac, tone(440, 0.1), 16000, format="FLAC")
    with pytest.raises(AudioError, match="pipe: not a PCM or float WAV.*only from a file"):
        WavSource(Pipe(flac.getvalue()), name="pipe")


def test_non_finite_samples_in_the_middle_of_a_stream_stop_it_naming_the_time(tmp_path):
    signal = tone(440, 2.0)
    signal[24000] = np.nan
    path = tmp_path / "nan.wav"
    soundfile.write(path, signal, 16000, subtype="FLOAT")
    blocks = iter(WavSource(path))
    assert len(next(blocks)) == 1600  # the good audio before it is heard
    with pytest.raises(AudioError, match=r"nan\.wav: NaN or infinite sample values .*1\.500 s"):
        list(blocks)
