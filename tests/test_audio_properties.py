"""Properties of the audio reader, over random inputs (hypothesis): any valid WAV, whatever its
rate, channels, encoding, chunk order, extra chunks and padding, decodes to its samples from a
file or a pipe in any block size; any damaged, cut or random input raises AudioError and
nothing else; raw PCM cut into any pieces gives the samples of one read."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wavs import ENCODINGS, FLOAT, Pipe, chunk, decoded, fmt_chunk, riff, sample_bytes

from gru_edge.audio import INT16_SCALE, MAX_RATE, MIN_RATE, AudioFile, open_audio
from gru_edge.errors import AudioError
from gru_edge.runtime.sources import PcmSource, Resampler, WavSource

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXTRA_CHUNKS = st.lists(
    st.tuples(
        st.sampled_from([b"LIST", b"JUNK", b"fact", b"cue ", b"PAD "]), st.binary(max_size=9)
    ),
    max_size=4,
)


@dataclass(frozen=True)
class Wav:
    content: bytes
    expected: np.ndarray  # (frames, channels) float32
    rate: int
    data_first: bool  # the data chunk comes before the format: a pipe cannot read it


def stored_values(rng: np.random.Generator, encoding: int, bits: int, shape) -> np.ndarray:
    if encoding == FLOAT:
        return rng.uniform(-2, 2, shape)
    low, high = (0, 2**8) if bits == 8 else (-(2 ** (bits - 1)), 2 ** (bits - 1))
    return rng.integers(low, high, shape)


@st.composite
def wav_files(draw, max_frames: int = 300) -> Wav:
    encoding, bits = draw(st.sampled_from(sorted(ENCODINGS)))
    channels = draw(st.integers(1, 6))
    rate = draw(st.integers(MIN_RATE, MAX_RATE))
    frames = draw(st.integers(1, max_frames))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = stored_values(rng, encoding, bits, (frames, channels))
    extensible = draw(st.booleans())
    data_first = draw(st.booleans())
    chunks = [
        fmt_chunk(encoding, channels, rate, bits, extensible),
        chunk(b"data", sample_bytes(values, encoding, bits)),
    ]
    if data_first:
        chunks.reverse()
    for chunk_id, body in draw(EXTRA_CHUNKS):
        chunks.insert(draw(st.integers(0, len(chunks))), chunk(chunk_id, body))
    return Wav(riff(chunks), decoded(values, encoding, bits), rate, data_first)


def read_all(audio: AudioFile, frames: int) -> np.ndarray:
    with audio:
        return np.concatenate(list(audio.blocks(frames)))


def check_decoded(audio: AudioFile, samples: np.ndarray) -> None:
    """What any input that decodes must give: finite float32 frames at a rate of sound."""
    assert samples.dtype == np.float32 and samples.shape[1] == audio.channels
    assert MIN_RATE <= audio.rate <= MAX_RATE and np.isfinite(samples).all()


@PROPERTY
@given(wav=wav_files(), frames=st.integers(1, 400), piece=st.integers(1, 600))
def test_every_valid_wav_decodes_to_its_samples_from_a_file_or_a_pipe(wav, frames, piece):
    audio = open_audio(io.BytesIO(wav.content), "random.wav")
    assert (audio.rate, audio.channels) == (wav.rate, wav.expected.shape[1])
    np.testing.assert_array_equal(read_all(audio, frames), wav.expected)
    try:
        piped = read_all(open_audio(Pipe(wav.content, piece), "pipe"), frames)
    except AudioError as e:
        assert wav.data_first and "before its 'fmt ' chunk" in str(e)
    else:
        assert not wav.data_first
        np.testing.assert_array_equal(piped, wav.expected)


@settings(max_examples=100, deadline=None)
@given(wav=wav_files(max_frames=2000), block_ms=st.floats(1, 300))
def test_a_valid_wav_streams_as_finite_16k_mono_of_its_duration(wav, block_ms):
    source = WavSource(io.BytesIO(wav.content), block_ms=block_ms, name="random.wav")
    samples = np.concatenate([np.zeros(0, np.float32), *source])
    assert samples.dtype == np.float32 and samples.ndim == 1 and np.isfinite(samples).all()
    assert abs(len(samples) - len(wav.expected) * 16000 / wav.rate) <= 1


def decodes_or_refuses(content: bytes, piece: int) -> None:
    """Reads `content` as a file and as a pipe: either it decodes to finite samples at a rate
    of sound, or the reader says why in an AudioError. Anything else escapes and fails."""
    for stream in (io.BytesIO(content), Pipe(content, piece)):
        try:
            audio = open_audio(stream, "damaged.wav")
            samples = read_all(audio, 97)
        except AudioError as e:
            assert str(e).startswith("damaged.wav: ") and "\n" not in str(e)
        else:
            check_decoded(audio, samples)


@PROPERTY
@given(
    wav=wav_files(max_frames=50),
    changes=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=4),
    piece=st.integers(1, 64),
)
def test_a_wav_with_damaged_bytes_is_decoded_or_refused_with_an_audio_error(wav, changes, piece):
    content = bytearray(wav.content)
    for position, value in changes:
        if position < len(content):
            content[position] = value
    decodes_or_refuses(bytes(content), piece)


# Values a damaged 'fmt ' chunk may hold instead of the right one.
WILD_FIELDS = {
    "encoding": st.integers(0, 0xFFFF),
    "channels": st.sampled_from([0, 9, 0xFFFF]) | st.integers(0, 0xFFFF),
    "rate": st.sampled_from([0, 1, 999, 384001, 4_000_000_000]) | st.integers(0, 0xFFFFFFFF),
    "align": st.integers(0, 0xFFFF),
    "bits": st.sampled_from([0, 4, 12, 48, 128]) | st.integers(0, 0xFFFF),
}


@st.composite
def damaged_formats(draw) -> bytes:
    """A WAV whose format is valid but for up to two fields, with whole frames of data (and
    perhaps a few bytes more)."""
    (encoding, bits), channels = draw(st.sampled_from(sorted(ENCODINGS))), draw(st.integers(1, 8))
    fields = {
        "encoding": encoding,
        "channels": channels,
        "rate": draw(st.integers(MIN_RATE, MAX_RATE)),
        "align": channels * bits // 8,
        "bits": bits,
    }
    data = draw(st.binary(max_size=4)) * fields["align"] * draw(st.integers(0, 30))
    for name in draw(st.sets(st.sampled_from(sorted(WILD_FIELDS)), max_size=2)):
        fields[name] = draw(WILD_FIELDS[name])
    fmt = struct.pack(
        "<HHIIHH",
        fields["encoding"],
        fields["channels"],
        fields["rate"],
        (fields["rate"] * fields["align"]) & 0xFFFFFFFF,
        fields["align"],
        fields["bits"],
    )
    return riff([chunk(b"fmt ", fmt), chunk(b"data", data + draw(st.binary(max_size=3)))])


@pytest.mark.reliability(
    area="audio file",
    fault="WAV format header with random fields (fuzzed, 300 cases)",
    outcome="decodes at a rate of sound, or one-line AudioError; nothing else",
)
@settings(PROPERTY, max_examples=300)
@given(content=damaged_formats(), piece=st.integers(1, 64))
def test_any_format_header_is_decoded_or_refused_with_an_audio_error(content, piece):
    decodes_or_refuses(content, piece)


@PROPERTY
@given(wav=wav_files(max_frames=50), cut=st.floats(0, 1), piece=st.integers(1, 64))
def test_a_cut_wav_decodes_to_a_prefix_of_its_samples_or_is_refused(wav, cut, piece):
    content = wav.content[: int(len(wav.content) * cut)]
    decodes_or_refuses(content, piece)
    try:
        samples = read_all(open_audio(io.BytesIO(content), "cut.wav"), 13)
    except AudioError:
        return
    np.testing.assert_array_equal(samples, wav.expected[: len(samples)])


@settings(max_examples=100, deadline=None)
@given(
    content=st.binary(max_size=300)
    | st.builds(
        lambda size, rest: b"RIFF" + size + b"WAVE" + rest,
        st.binary(min_size=4, max_size=4),
        st.binary(max_size=300),
    ),
    piece=st.integers(1, 64),
)
def test_random_bytes_are_decoded_or_refused_with_an_audio_error(content, piece):
    decodes_or_refuses(content, piece)


@settings(max_examples=150, deadline=None)
@given(
    channels=st.integers(1, 3),
    frames=st.integers(1, 3000),
    rate=st.sampled_from([16000, 8000, 44100]),
    pieces=st.lists(st.integers(1, 5000), min_size=1, max_size=8),
    block_ms=st.floats(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_raw_pcm_in_any_pieces_gives_the_samples_of_one_read(
    channels, frames, rate, pieces, block_ms, seed
):
    pcm = np.random.default_rng(seed).integers(-32768, 32768, (frames, channels)).astype("<i2")
    source = PcmSource(Pipe(pcm.tobytes(), pieces), rate, channels, block_ms)
    heard = np.concatenate([np.zeros(0, np.float32), *source])
    resample = Resampler(rate, 16000, "one read", "audio")
    mono = (pcm.mean(axis=1) / INT16_SCALE).astype(np.float32)
    np.testing.assert_array_equal(heard, np.concatenate([resample(mono), resample(mono[:0], True)]))
