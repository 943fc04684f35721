"""Audio in: read, check, down-mix and resample to what the front end expects (mono, 16 kHz).

WAV files in integer PCM (8, 16, 24, 32 bit) or IEEE float (32, 64 bit) are decoded here with
numpy alone. Python 3.11's `wave` module refuses float and WAVE_FORMAT_EXTENSIBLE files, and
soundfile is not part of the base install because 32-bit Raspberry Pi OS has no wheel with
libsndfile inside; so this module parses the RIFF chunks itself. Everything else (FLAC, OGG,
A-law WAV, ...) goes through soundfile and resampling through soxr, both from the `audio`
extra. Bad input raises `AudioError` naming the source and the problem; nothing is guessed.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gru_edge.errors import AudioError
from gru_edge.extras import require

SAMPLE_RATE = 16000
# Full scale of 16-bit PCM: int16 / INT16_SCALE lies in [-1, 1), and back again exactly.
INT16_SCALE = 32768.0

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_ENCODING_NAMES = {
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MP3",
}


@dataclass(frozen=True)
class _WavData:
    encoding: int
    channels: int
    rate: int
    bits: int
    payload: memoryview


def int16_to_float(samples: np.ndarray) -> np.ndarray:
    """16-bit PCM values as float32 samples in [-1, 1) (exact)."""
    return np.asarray(samples).astype(np.float32) / np.float32(INT16_SCALE)


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit PCM, rounded and clipped as a 16-bit converter would."""
    return np.clip(np.round(np.asarray(samples) * INT16_SCALE), -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Writes float samples, (frames,) or (frames, channels), as a 16-bit PCM WAV file
    (Python's `wave` module: the base install has no soundfile)."""
    pcm = float_to_int16(samples).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def read_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Reads an audio file as mono float32 samples at `sample_rate`."""
    samples, rate = decode_file(path)
    return prepare_audio(samples, rate, sample_rate, source=str(path))


def prepare_audio(
    samples: np.ndarray, rate: int, sample_rate: int = SAMPLE_RATE, source: str = "audio"
) -> np.ndarray:
    """Checks a signal of shape (frames,) or (frames, channels), down-mixes it by averaging
    the channels and resamples it to `sample_rate`; returns mono float32."""
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2):
        raise AudioError(
            f"{source}: expected samples of shape (frames,) or (frames, channels), "
            f"got {samples.shape}"
        )
    if samples.size == 0:
        raise AudioError(f"{source}: holds no audio (0 samples)")
    bad = ~np.isfinite(samples)
    if bad.any():
        first = int(np.argmax(bad.reshape(samples.shape[0], -1).any(axis=1)))
        raise AudioError(
            f"{source}: {int(bad.sum())} NaN or infinite sample values "
            f"(the first at {first / rate:.3f} s); the audio is corrupt"
        )
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    return resample(mono.astype(np.float32, copy=False), rate, sample_rate, source)


def resample(samples: np.ndarray, rate: int, sample_rate: int, source: str = "audio") -> np.ndarray:
    """Resamples mono float32 audio with soxr (high quality); a no-op at the same rate."""
    if rate == sample_rate:
        return samples
    soxr = require(
        "soxr",
        "audio",
        f"{source}: is {rate} Hz and gru_edge needs {sample_rate} Hz; resampling it",
        f", or convert the file first: sox IN.wav -r {sample_rate} OUT.wav",
    )
    return soxr.resample(samples, rate, sample_rate, quality="HQ").astype(np.float32, copy=False)


def decode_file(path: str | Path) -> tuple[np.ndarray, int]:
    """Decodes a file without changing it: float32 samples (frames, channels) and the rate."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{path}: is a folder, not an audio file") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot read it ({e.strerror})") from None
    if not data:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        wav = _parse_wav(memoryview(data), str(path))
        if (wav.encoding, wav.bits) in _DECODERS:
            return _DECODERS[wav.encoding, wav.bits](wav), wav.rate
        encoding = _ENCODING_NAMES.get(wav.encoding, f"format tag 0x{wav.encoding:04x}")
        reason = f"a {wav.bits}-bit {encoding} WAV file"
    else:
        reason = "not a PCM or float WAV file"
    return _decode_with_soundfile(path, reason)


def _decode_with_soundfile(path: Path, reason: str) -> tuple[np.ndarray, int]:
    soundfile = require(
        "soundfile",
        "audio",
        f"{path}: {reason}; reading it",
        ", or convert it: sox IN -r 16000 -b 16 -e signed-integer OUT.wav",
        system_library="libsndfile1",
    )
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.SoundFileError) as e:
        raise AudioError(f"{path}: {reason} and libsndfile cannot decode it ({e})") from None
    return samples, rate


def _parse_wav(data: memoryview, source: str) -> _WavData:
    """Walks the RIFF chunks to the format and the sample data; refuses what does not add up."""
    fmt = payload = None
    offset = 12
    while offset + 8 <= len(data) and (fmt is None or payload is None):
        chunk_id = bytes(data[offset : offset + 4])
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(body, source)
        elif chunk_id == b"data":
            if len(body) < size:
                raise AudioError(
                    f"{source}: truncated WAV: its data chunk declares {size} bytes "
                    f"but the file holds {len(body)}"
                )
            payload = body
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    if fmt is None:
        raise AudioError(f"{source}: corrupt WAV: no 'fmt ' chunk (truncated file?)")
    if payload is None:
        raise AudioError(f"{source}: corrupt WAV: no 'data' chunk (truncated file?)")
    encoding, channels, rate, bits = fmt
    frame_bytes = channels * bits // 8
    if len(payload) % frame_bytes:
        raise AudioError(
            f"{source}: truncated WAV: {len(payload)} data bytes is not a whole "
            f"number of {frame_bytes}-byte frames"
        )
    return _WavData(encoding, channels, rate, bits, payload)


def _parse_fmt(body: memoryview, source: str) -> tuple[int, int, int, int]:
    if len(body) < 16:
        raise AudioError(f"{source}: corrupt WAV: 'fmt ' chunk of {len(body)} bytes (needs 16)")
    encoding, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if encoding == _EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(f"{source}: corrupt WAV: WAVE_FORMAT_EXTENSIBLE without sub-format")
        (encoding,) = struct.unpack_from("<H", body, 24)  # first 2 bytes of the sub-format GUID
    if channels == 0 or rate == 0 or bits == 0 or bits % 8 or block_align != channels * bits // 8:
        raise AudioError(
            f"{source}: corrupt WAV header: {channels} channels, {rate} Hz, "
            f"{bits} bits, {block_align} bytes per frame"
        )
    return encoding, channels, rate, bits


def _decode_int24(wav: _WavData) -> np.ndarray:
    triplets = np.frombuffer(wav.payload, np.uint8).reshape(-1, 3).astype(np.int32)
    values = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
    values = (values << 8) >> 8  # sign-extend from 24 bits
    return _frames(values.astype(np.float32) / 2.0**23, wav)


def _frames(samples: np.ndarray, wav: _WavData) -> np.ndarray:
    return samples.astype(np.float32, copy=False).reshape(-1, wav.channels)


_DECODERS = {
    (_PCM, 8): lambda w: _frames((np.frombuffer(w.payload, np.uint8) - 128.0) / 128.0, w),
    (_PCM, 16): lambda w: _frames(np.frombuffer(w.payload, "<i2") / INT16_SCALE, w),
    (_PCM, 24): _decode_int24,
    (_PCM, 32): lambda w: _frames(np.frombuffer(w.payload, "<i4") / 2.0**31, w),
    (_FLOAT, 32): lambda w: _frames(np.frombuffer(w.payload, "<f4"), w),
    (_FLOAT, 64): lambda w: _frames(np.frombuffer(w.payload, "<f8"), w),
}
