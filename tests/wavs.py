"""WAV files byte by byte, and streams that behave as pipes do, for the audio reader's tests.

The tests build their WAV files here rather than with a library so that they can write what
no library writes: odd chunk orders, "length unknown" sizes, headers that cannot be sound.
"""

from __future__ import annotations

import io
import itertools
import struct

import numpy as np

PCM, FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
UNKNOWN_SIZE = 0xFFFFFFFF
# (format tag, bits) -> numpy type of one stored sample, and the full scale it is divided by.
ENCODINGS = {
    (PCM, 8): ("u1", 128.0),
    (PCM, 16): ("<i2", 2.0**15),
    (PCM, 24): ("<i4", 2.0**23),  # stored as 3 bytes: see `sample_bytes`
    (PCM, 32): ("<i4", 2.0**31),
    (FLOAT, 32): ("<f4", 1.0),
    (FLOAT, 64): ("<f8", 1.0),
}


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk: id, size (the body's unless given) and body, padded to an even length."""
    size = len(body) if size is None else size
    return chunk_id + struct.pack("<I", size) + body + b"\0" * (len(body) & 1)


def fmt_chunk(encoding: int, channels: int, rate: int, bits: int, extensible: bool = False):
    """A 'fmt ' chunk; `extensible` writes WAVE_FORMAT_EXTENSIBLE with `encoding` in the GUID."""
    align = channels * bits // 8
    body = struct.pack(
        "<HHIIHH",
        EXTENSIBLE if extensible else encoding,
        channels,
        rate,
        (rate * align) & 0xFFFFFFFF,
        align,
        bits,
    )
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        body += struct.pack("<HHIH", 22, bits, 0, encoding) + guid_tail
    return chunk(b"fmt ", body)


def riff(chunks: list[bytes], riff_size: int | None = None) -> bytes:
    """A RIFF/WAVE file of the given chunks, in their order."""
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def sample_bytes(values: np.ndarray, encoding: int, bits: int) -> bytes:
    """Stored samples (frames, channels) as the bytes of a data chunk."""
    dtype, _ = ENCODINGS[encoding, bits]
    stored = np.asarray(values).astype(dtype)
    if bits == 24:
        return stored.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return stored.tobytes()


def decoded(values: np.ndarray, encoding: int, bits: int) -> np.ndarray:
    """What a reader must give for stored samples: float32 in [-1, 1), (frames, channels)."""
    _, scale = ENCODINGS[encoding, bits]
    offset = 128.0 if bits == 8 else 0.0
    return ((np.asarray(values, np.float64) - offset) / scale).astype(np.float32)


def pcm16_wav(
    samples: np.ndarray,
    rate: int = 16000,
    data_size: int | None = None,
    riff_size: int | None = None,
) -> bytes:
    """A 16-bit mono WAV of int16 `samples`, with the sizes its header declares overridable."""
    data = np.asarray(samples).astype("<i2").tobytes()
    return riff([fmt_chunk(PCM, 1, rate, 16), chunk(b"data", data, data_size)], riff_size)


class Pipe(io.RawIOBase):
    """A non-seekable stream over `data`, then (when `endless`) zeros for ever, that answers
    each read with at most `pieces` bytes (a list: its sizes in turn), as a pipe does; it
    keeps the largest size asked for (not every one: an endless pipe would fill the memory it
    is there to watch)."""

    def __init__(
        self, data: bytes, pieces: int | list[int] = 1 << 30, endless: bool = False
    ) -> None:
        self.data, self.endless = data, endless
        self.pieces = itertools.cycle([pieces] if isinstance(pieces, int) else pieces)
        self.position = 0
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("the reader asked a pipe for everything it will ever hold")
        self.largest_read = max(self.largest_read, size)
        size = min(size, next(self.pieces))
        if self.position >= len(self.data):
            return bytes(size) if self.endless else b""
        piece = self.data[self.position : self.position + size]
        self.position += len(piece)
        return piece

    def readinto(self, buffer) -> int:
        piece = self.read(len(buffer))
        buffer[: len(piece)] = piece
        return len(piece)


class RecordingFile(io.BytesIO):
    """A seekable in-memory file that keeps the largest size asked of it (-1: everything)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        everything = size is None or size < 0
        self.largest_read = (
            -1 if everything or self.largest_read < 0 else max(self.largest_read, size)
        )
        return super().read(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
