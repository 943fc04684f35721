"""Audio input: every WAV encoding, down-mixing, resampling, and a clear error for bad input.

soundfile (libsndfile) writes the test files, so the numpy WAV decoder is checked against an
independent implementation.
"""

from __future__ import annotations

import struct
import sys
import wave

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import peak_frequency, tone

from gru_edge.audio import decode_file, prepare_audio, read_audio
from gru_edge.errors import AudioError
from gru_edge.extras import MissingPackage

BITS = {"PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", list(BITS))
def test_reads_every_pcm_and_float_wav_encoding(tmp_path, container, subtype):
    signal = tone(440, 0.5)
    path = tmp_path / "tone.wav"
    soundfile.write(path, signal, 16000, subtype=subtype, format=container)
    samples = read_audio(path)
    assert samples.dtype == np.float32 and samples.shape == signal.shape
    step = 2.0 ** -(BITS[subtype] - 1) if subtype.startswith("PCM") else 1e-7
    np.testing.assert_allclose(samples, signal, atol=step)
    # Bit-exact against libsndfile's own decoding of the same file.
    reference, _ = soundfile.read(path, dtype="float64")
    np.testing.assert_array_equal(samples, reference.astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(
    channels=st.integers(1, 4),
    frames=st.integers(1, 300),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "PCM_32"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_integer_decoding_matches_libsndfile(tmp_path_factory, channels, frames, subtype, seed):
    values = np.random.default_rng(seed).integers(-(2**31), 2**31, (frames, channels))
    path = tmp_path_factory.mktemp("wav") / "noise.wav"
    soundfile.write(path, values.astype(np.int32), 16000, subtype=subtype)
    decoded, rate = decode_file(path)
    reference, _ = soundfile.read(path, dtype="float64", always_2d=True)
    assert rate == 16000
    np.testing.assert_array_equal(decoded, reference.astype(np.float32))


def test_reads_what_the_standard_library_writes(tmp_path):
    signal = (tone(1000, 0.25) * 32767).astype("<i2")
    path = tmp_path / "stdlib.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(signal.tobytes())
    np.testing.assert_array_equal(read_audio(path), signal / np.float32(32768))


def test_skips_unknown_chunks_and_padding(tmp_path):
    signal = (tone(500, 0.1) * 20000).astype("<i2")
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\0"  # odd size, one pad byte
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + odd_chunk
        + b"data"
        + struct.pack("<I", signal.nbytes)
        + signal.tobytes()
    )
    path = tmp_path / "chunks.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    np.testing.assert_array_equal(read_audio(path), signal / np.float32(32768))


def test_down_mixes_channels_by_averaging(tmp_path):
    left, right = tone(440, 0.5), tone(1000, 0.5, amplitude=0.25)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(path), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resamples_to_16k_keeping_pitch_and_duration(tmp_path, rate):
    path = tmp_path / f"tone_{rate}.wav"
    soundfile.write(path, tone(1000, 1.0, rate=rate), rate, subtype="PCM_16")
    samples = read_audio(path)
    assert abs(len(samples) - 16000) <= 1
    assert peak_frequency(samples, 16000) == pytest.approx(1000, abs=2)


def test_reads_other_formats_through_soundfile(tmp_path):
    signal = tone(440, 0.5)
    path = tmp_path / "tone.flac"
    soundfile.write(path, signal, 16000, subtype="PCM_16")
    np.testing.assert_allclose(read_audio(path), signal, atol=2.0**-15)


def test_hands_wav_encodings_it_does_not_decode_to_soundfile(tmp_path):
    path = tmp_path / "alaw.wav"
    soundfile.write(path, tone(440, 0.5), 16000, subtype="ALAW")
    assert peak_frequency(read_audio(path), 16000) == pytest.approx(440, abs=2)


def test_names_the_missing_library_for_what_it_cannot_read(tmp_path, monkeypatch):
    alaw, flac = tmp_path / "alaw.wav", tmp_path / "tone.flac"
    soundfile.write(alaw, tone(440, 0.5), 16000, subtype="ALAW")
    soundfile.write(flac, tone(440, 0.5), 16000)
    monkeypatch.setitem(sys.modules, "soundfile", None)  # as in the base install
    with pytest.raises(
        MissingPackage, match=r"alaw\.wav: a 8-bit A-law WAV file.*gru-edge\[audio\]"
    ):
        read_audio(alaw)
    with pytest.raises(
        MissingPackage, match=r"tone\.flac: not a PCM or float WAV.*gru-edge\[audio\]"
    ):
        read_audio(flac)


def test_names_the_missing_resampler(tmp_path, monkeypatch):
    path = tmp_path / "fast.wav"
    soundfile.write(path, tone(440, 0.5, rate=44100), 44100)
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(MissingPackage, match=r"fast\.wav: is 44100 Hz.*package soxr.*sox "):
        read_audio(path)


def _pcm16_wav(samples: np.ndarray) -> bytes:
    data = samples.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (_pcm16_wav(np.zeros(0)), "holds no audio"),
        (_pcm16_wav(np.ones(1000))[:40], "no 'data' chunk"),
        (_pcm16_wav(np.ones(1000))[:30], "'fmt ' chunk of 10 bytes"),
        (_pcm16_wav(np.ones(1000))[:16], "no 'fmt ' chunk"),
        (
            _pcm16_wav(np.ones(1000)).replace(b"\x02\x00\x10\x00", b"\x03\x00\x10\x00"),
            "corrupt WAV header",
        ),
        (b"RIFF\x00\x00\x00\x00WAVEJUNK" + b"\xff" * 200, "no 'fmt ' chunk"),
        (np.random.default_rng(0).bytes(3000), "not a PCM or float WAV file and libsndfile"),
    ],
    ids=[
        "empty",
        "zero-length",
        "header-only",
        "cut-fmt",
        "no-fmt",
        "bad-header",
        "garbage-chunks",
        "random-bytes",
    ],
)
def test_refuses_bad_files_naming_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=r"bad\.wav: ") as error:
        read_audio(path)
    assert problem in str(error.value)


def test_refuses_odd_byte_counts(tmp_path):
    content = bytearray(_pcm16_wav(np.ones(10)) + b"\0")
    content[40:44] = struct.pack("<I", 21)  # data chunk of 10.5 frames
    path = tmp_path / "odd.wav"
    path.write_bytes(bytes(content))
    with pytest.raises(AudioError, match="not a whole number of 2-byte frames"):
        read_audio(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_refuses_non_finite_samples(tmp_path, bad_value):
    signal = tone(440, 0.5)
    signal[4000] = bad_value
    path = tmp_path / "nan.wav"
    soundfile.write(path, signal, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: NaN or infinite .* at 0\.250 s"):
        read_audio(path)


def test_refuses_missing_paths_and_folders(tmp_path):
    with pytest.raises(AudioError, match=r"nowhere\.wav: no such file"):
        read_audio(tmp_path / "nowhere.wav")
    with pytest.raises(AudioError, match="is a folder"):
        read_audio(tmp_path)


def test_prepare_audio_checks_arrays_too():
    with pytest.raises(AudioError, match=r"mic: expected samples of shape"):
        prepare_audio(np.zeros((2, 2, 2)), 16000, source="mic")
    with pytest.raises(AudioError, match="mic: holds no audio"):
        prepare_audio(np.zeros((0, 2)), 16000, source="mic")
    stereo = np.stack([tone(440, 0.1), -tone(440, 0.1)], axis=1)
    np.testing.assert_array_equal(prepare_audio(stereo, 16000), np.zeros(1600, np.float32))
