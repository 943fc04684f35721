"""Audio in: read, check, down-mix and resample to what the front end expects (mono, 16 kHz).

`open_audio` reads a file, a FIFO or a pipe a block at a time, so memory never grows with the
length of the audio and a stream is heard as it arrives; `read_audio` and `decode_file` give a
whole file at once (training clips), through the same reader. WAV files in integer PCM (8, 16,
24, 32 bit) or IEEE float (32, 64 bit) are decoded here with numpy alone: Python 3.11's `wave`
module refuses float and WAVE_FORMAT_EXTENSIBLE files, and soundfile is not part of the base
install because 32-bit Raspberry Pi OS has no wheel with libsndfile inside; so this module
walks the RIFF chunks itself. Everything else (FLAC, OGG, A-law WAV, ...) goes through
soundfile's block reading and resampling through soxr, both from the `audio` extra. Bad input
raises `AudioError` naming the source and the problem; nothing is guessed, except what a
recorder that could not finish its header leaves (see `_WavFile`).
"""

from __future__ import annotations

import logging
import os
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gru_edge.errors import AudioError
from gru_edge.extras import require

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Full scale of 16-bit PCM: int16 / INT16_SCALE lies in [-1, 1), and back again exactly.
INT16_SCALE = 32768.0
# The rates a header may claim. Below 1 kHz or above 384 kHz (the fastest audio hardware)
# it is damaged, not sound: resampling 1 Hz to 16 kHz makes 16000 samples of each one, and
# 4 GHz makes none at all.
MIN_RATE, MAX_RATE = 1000, 384000
# The most bytes of samples one block holds, whatever its channel count or rate asks for.
MAX_BLOCK_BYTES = 1 << 20

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_ENCODING_NAMES = {
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MP3",
}


# A RIFF or data size that a writer which could not seek back to fill it in leaves behind.
_UNKNOWN_SIZE = 0xFFFFFFFF
_FMT_BYTES = 40  # what a 'fmt ' chunk says that matters, WAVE_FORMAT_EXTENSIBLE included
_SKIP_BYTES = 1 << 16  # a chunk is skipped on a pipe by reading this much at a time


@dataclass(frozen=True)
class _Format:
    encoding: int
    channels: int
    rate: int
    bits: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


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
    """Reads a whole audio file as mono float32 samples at `sample_rate`."""
    samples, rate = decode_file(path)
    return prepare_audio(samples, rate, sample_rate, source=str(path))


def decode_file(path: str | Path) -> tuple[np.ndarray, int]:
    """Decodes a whole file without changing it: float32 samples (frames, channels) and the
    rate. Memory grows with the file: streams are read with `open_audio`."""
    with open_audio(path) as audio:
        return np.concatenate(list(audio.blocks())), audio.rate


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
    check_finite(samples, rate, source)
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    return resample(mono.astype(np.float32, copy=False), rate, sample_rate, source)


def check_finite(samples: np.ndarray, rate: int, source: str, start: int = 0) -> None:
    """Refuses NaN or infinite samples, naming where the first is (`start`: the frame the
    block begins at); they would poison every score after them."""
    bad = ~np.isfinite(samples)
    if bad.any():
        first = start + int(np.argmax(bad.reshape(len(samples), -1).any(axis=1)))
        raise AudioError(
            f"{source}: NaN or infinite sample values (the first at {first / rate:.3f} s); "
            "the audio is corrupt"
        )


def check_rate(rate: int, source: str, advice: str) -> int:
    """Returns `rate`, or refuses one that no sound is recorded at (a damaged header)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"{source}: {rate} Hz is not a sample rate of sound (gru_edge reads "
            f"{MIN_RATE} to {MAX_RATE} Hz); {advice}"
        )
    return rate


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


class AudioFile:
    """Audio open for reading in blocks: its `rate`, `channels`, `frames` (None for a stream
    whose length is known only at its end) and `source`, the name its errors give."""

    source: str
    rate: int
    channels: int
    frames: int | None

    def blocks(self, frames: int | None = None) -> Iterator[np.ndarray]:
        """float32 blocks (frames, channels) of `frames` frames (fewer where a block would
        pass MAX_BLOCK_BYTES, and as many as that allows when None), the last one shorter.
        A NaN or an infinity stops the audio where it is, and so does the end of a stream
        that held no audio."""
        largest = max(1, MAX_BLOCK_BYTES // (8 * self.channels))
        frames = largest if frames is None else max(1, min(frames, largest))
        done = 0
        for block in self._read(frames):
            check_finite(block, self.rate, self.source, done)
            done += len(block)
            yield block
        if not done:
            raise AudioError(f"{self.source}: holds no audio (0 samples)")

    def _read(self, frames: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Closes the file (not a stream the caller opened); safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_audio(audio: str | Path | BinaryIO, name: str | None = None) -> AudioFile:
    """Opens a file or FIFO by path, or reads a binary stream (`sys.stdin.buffer`, a socket),
    for reading in blocks; the header is checked here, before any audio is read. `name` is
    what errors call it (default: the path, or the stream's name)."""
    if isinstance(audio, str | Path):
        source = name or str(audio)
        stream = _open_path(Path(audio), source)
    else:
        source, stream = name or str(getattr(audio, "name", "audio stream")), audio
    opened = _Input(stream, source, owned=stream is not audio)
    try:
        reader = _open_reader(opened)
        if reader.frames == 0:
            raise AudioError(f"{source}: holds no audio (0 samples)")
    except BaseException:
        opened.close()
        raise
    return reader


def _open_path(path: Path, source: str) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise AudioError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{source}: is a folder, not an audio file") from None
    except OSError as e:
        raise AudioError(f"{source}: cannot read it ({e.strerror or e})") from None


def _open_reader(opened: _Input) -> AudioFile:
    head = opened.read(12)
    if not head:
        raise AudioError(f"{opened.source}: the file is empty (0 bytes)")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        fmt, size = _walk_chunks(opened)
        if (fmt.encoding, fmt.bits) in _DECODERS:
            return _WavFile(opened, fmt, size)
        encoding = _ENCODING_NAMES.get(fmt.encoding, f"format tag 0x{fmt.encoding:04x}")
        reason = f"a {fmt.bits}-bit {encoding} WAV file"
    else:
        reason = "not a PCM or float WAV file"
    if not opened.seekable:
        raise AudioError(
            f"{opened.source}: {reason}, and other formats are read only from a file, not a "
            "pipe (libsndfile seeks); send PCM or float WAV, or raw PCM to `gru-edge stream -`"
        )
    opened.seek(0)
    return _SoundFile(opened, reason)


class _Input:
    """A binary stream read exactly: short reads (a pipe's) are completed, a read error is an
    AudioError naming the source, and seeking is done only where the stream can."""

    def __init__(self, stream: BinaryIO, source: str, owned: bool) -> None:
        self.stream, self.source, self.owned = stream, source, owned
        try:
            self.seekable = bool(stream.seekable())
        except (AttributeError, OSError, ValueError):
            self.seekable = False

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer at the end of the stream; never asks for more than `size`."""
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            try:
                part = self.stream.read(wanted)
            except OSError as e:
                raise AudioError(f"{self.source}: cannot read it ({e.strerror or e})") from None
            if not part:
                break
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)

    def skip(self, size: int) -> None:
        if self.seekable:
            self.stream.seek(size, os.SEEK_CUR)
            return
        while size > 0:
            part = self.read(min(size, _SKIP_BYTES))
            if not part:
                return
            size -= len(part)

    def tell(self) -> int:
        return self.stream.tell()

    def seek(self, position: int) -> None:
        self.stream.seek(position)

    def remaining(self) -> int:
        """The bytes from here to the end (seekable streams only)."""
        here = self.stream.tell()
        end = self.stream.seek(0, os.SEEK_END)
        self.stream.seek(here)
        return max(0, end - here)

    def close(self) -> None:
        if self.owned:
            self.stream.close()


def _walk_chunks(opened: _Input) -> tuple[_Format, int]:
    """Reads the RIFF chunks up to the first sample: the format, and the size the data chunk
    declares. A data chunk before the format needs a stream that can seek back to it."""
    fmt = data = None
    while True:
        header = opened.read(8)
        if len(header) < 8:
            break
        chunk_id, (size,) = header[:4], struct.unpack("<I", header[4:])
        padding = size & 1  # chunks are padded to an even length
        if chunk_id == b"data":
            if fmt is not None:
                return fmt, size
            if not opened.seekable:
                raise AudioError(
                    f"{opened.source}: its data chunk comes before its 'fmt ' chunk, which "
                    "only a file can be read with, not a pipe; save it to a file first"
                )
            data = opened.tell(), size
            opened.skip(size + padding)
        elif chunk_id == b"fmt ":
            body = opened.read(min(size, _FMT_BYTES))
            fmt = _parse_fmt(body, opened.source)
            if data is not None:
                opened.seek(data[0])
                return fmt, data[1]
            opened.skip(size - len(body) + padding)
        else:
            opened.skip(size + padding)
    if fmt is None:
        raise AudioError(f"{opened.source}: corrupt WAV: no 'fmt ' chunk (truncated file?)")
    raise AudioError(f"{opened.source}: corrupt WAV: no 'data' chunk (truncated file?)")


def _parse_fmt(body: bytes, source: str) -> _Format:
    if len(body) < 16:
        raise AudioError(f"{source}: corrupt WAV: 'fmt ' chunk of {len(body)} bytes (needs 16)")
    encoding, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if encoding == _EXTENSIBLE:
        if len(body) < _FMT_BYTES:
            raise AudioError(f"{source}: corrupt WAV: WAVE_FORMAT_EXTENSIBLE without sub-format")
        (encoding,) = struct.unpack_from("<H", body, 24)  # first 2 bytes of the sub-format GUID
    if channels == 0 or rate == 0 or bits == 0 or bits % 8 or block_align != channels * bits // 8:
        raise AudioError(
            f"{source}: corrupt WAV header: {channels} channels, {rate} Hz, "
            f"{bits} bits, {block_align} bytes per frame"
        )
    check_rate(rate, source, "its header is damaged")
    return _Format(encoding, channels, rate, bits)


class _WavFile(AudioFile):
    """The samples of a PCM or float WAV, read a block at a time from where the chunk walk
    left off, so that a FIFO or a pipe is read as it arrives.

    A data size of 0xFFFFFFFF (a recorder writing to a pipe, which cannot go back to fill in
    the header) means "to the end". On a pipe any declared size is only an upper bound:
    arecord declares 2 GB and stops when it is stopped. A regular file that holds less than
    its header declares is decoded as far as it goes, with a warning, not refused: that is
    what a recording cut short by a crash or a full disk looks like, it is what sox and
    libsndfile do, and an unattended device should rather hear the hours that are there than
    none of them. A complete data chunk that is not a whole number of frames is refused: its
    header is wrong, and so may be everything else it says."""

    def __init__(self, opened: _Input, fmt: _Format, size: int) -> None:
        self._input, self._format = opened, fmt
        self.source, self.rate, self.channels = opened.source, fmt.rate, fmt.channels
        frame = fmt.frame_bytes
        if opened.seekable:
            held = opened.remaining()
            if size == _UNKNOWN_SIZE or size > held:
                if size != _UNKNOWN_SIZE:
                    logger.warning(
                        "%s: its data chunk declares %d bytes but the file holds %d (cut "
                        "short, or its recorder never finished the header); decoding the "
                        "%d whole frames there",
                        self.source,
                        size,
                        held,
                        held // frame,
                    )
                elif held % frame:
                    self._warn_partial_frame(held % frame)
                size = held - held % frame
            elif size % frame:
                raise AudioError(
                    f"{self.source}: truncated WAV: {size} data bytes is not a whole "
                    f"number of {frame}-byte frames"
                )
            self.frames = size // frame
            self._left: int | None = size
        else:
            self.frames = None
            self._left = None if size == _UNKNOWN_SIZE else size - size % frame

    def _read(self, frames: int) -> Iterator[np.ndarray]:
        frame = self._format.frame_bytes
        decode = _DECODERS[self._format.encoding, self._format.bits]
        while self._left is None or self._left > 0:
            wanted = frames * frame if self._left is None else min(frames * frame, self._left)
            data = self._input.read(wanted)
            if self._left is not None:
                self._left -= len(data)
            whole = len(data) - len(data) % frame
            if whole:
                samples = decode(data[:whole] if whole < len(data) else data)
                yield samples.astype(np.float32, copy=False).reshape(-1, self.channels)
            if len(data) < wanted:  # the stream ended
                if len(data) % frame:
                    self._warn_partial_frame(len(data) % frame)
                return

    def _warn_partial_frame(self, extra: int) -> None:
        logger.warning(
            "%s: the audio ends %d bytes into a frame (cut short?); those bytes are ignored",
            self.source,
            extra,
        )

    def close(self) -> None:
        self._input.close()


class _SoundFile(AudioFile):
    """Any other format libsndfile reads, through soundfile's block reading."""

    def __init__(self, opened: _Input, reason: str) -> None:
        soundfile = require(
            "soundfile",
            "audio",
            f"{opened.source}: {reason}; reading it",
            ", or convert it: sox IN -r 16000 -b 16 -e signed-integer OUT.wav",
            system_library="libsndfile1",
        )
        self._input, self.source = opened, opened.source
        self._errors = (RuntimeError, soundfile.SoundFileError)
        try:
            self._file = soundfile.SoundFile(opened.stream)
        except self._errors as e:
            raise AudioError(
                f"{self.source}: {reason} and libsndfile cannot decode it ({e})"
            ) from None
        self.channels, self.frames = self._file.channels, self._file.frames
        try:
            self.rate = check_rate(self._file.samplerate, self.source, "its header is damaged")
        except AudioError:
            self._file.close()
            raise

    def _read(self, frames: int) -> Iterator[np.ndarray]:
        while True:
            try:
                block = self._file.read(frames, dtype="float32", always_2d=True)
            except self._errors as e:
                raise AudioError(f"{self.source}: libsndfile cannot decode it ({e})") from None
            if not len(block):
                return
            yield block

    def close(self) -> None:
        self._file.close()
        self._input.close()


def _int24(data: bytes) -> np.ndarray:
    triplets = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
    values = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
    return ((values << 8) >> 8).astype(np.float32) / 2.0**23  # sign-extended from 24 bits


def _float64(data: bytes) -> np.ndarray:
    with np.errstate(over="ignore"):  # past float32's range: inf, which `blocks` refuses
        return np.frombuffer(data, "<f8").astype(np.float32)


# (format tag, bits) -> samples of a data chunk's bytes, in [-1, 1), frames x channels flat.
_DECODERS = {
    (_PCM, 8): lambda data: (np.frombuffer(data, np.uint8) - 128.0) / 128.0,
    (_PCM, 16): lambda data: np.frombuffer(data, "<i2") / INT16_SCALE,
    (_PCM, 24): _int24,
    (_PCM, 32): lambda data: np.frombuffer(data, "<i4") / 2.0**31,
    (_FLOAT, 32): lambda data: np.frombuffer(data, "<f4"),
    (_FLOAT, 64): _float64,
}
# Bytes a sample of integer PCM: 8-bit is unsigned, as in WAV; the others are signed.
PCM_WIDTHS = (1, 2, 3, 4)


def decode_pcm(data: bytes, width: int) -> np.ndarray:
    """Little-endian integer PCM of `width` bytes a sample as float32 in [-1, 1), channels
    interleaved as they came (the WAV reader's own decoders, for audio that comes without a
    header: a Wyoming client's chunks)."""
    return _DECODERS[_PCM, 8 * width](data).astype(np.float32, copy=False)
