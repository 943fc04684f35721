"""Where audio comes from: a WAV file, or raw 16-bit PCM on a pipe (the microphone is in
`gru_edge.runtime.microphone`).

Every source yields blocks of mono float32 samples at 16 kHz (the front end's rate), whatever
the device or file delivers, and is closed with `close()` (or as a context manager).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gru_edge.audio import INT16_SCALE, SAMPLE_RATE, read_audio
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require


class SourceError(GruEdgeError):
    """An audio source that cannot be opened or read."""


class _Resampler:
    """Streaming resampling to 16 kHz with soxr; nothing at all when the rate is already 16 kHz."""

    def __init__(self, rate: int, sample_rate: int, what: str, extra: str) -> None:
        self._stream = None
        if rate != sample_rate:
            purpose = f"{what} delivers {rate} Hz; resampling it to {sample_rate} Hz"
            soxr = require("soxr", extra, purpose)
            self._stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return block
        return self._stream.resample_chunk(block, last=last)


class Source:
    """A source of 16 kHz mono float32 blocks."""

    description = "audio"

    def __iter__(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Releases the device or file; safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WavSource(Source):
    """A file (WAV, or any format soundfile reads), in blocks; `realtime` paces the blocks as
    a microphone would deliver them, otherwise as fast as the consumer takes them."""

    def __init__(
        self,
        path: str | Path,
        realtime: bool = False,
        block_ms: float = 100.0,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.samples = read_audio(path, sample_rate)
        self.realtime = realtime
        self.block = max(1, round(block_ms * sample_rate / 1000))
        self.sample_rate = sample_rate
        self.description = str(path)

    def __iter__(self) -> Iterator[np.ndarray]:
        start = time.monotonic()
        for offset in range(0, len(self.samples), self.block):
            if self.realtime:
                time.sleep(max(0.0, start + offset / self.sample_rate - time.monotonic()))
            yield self.samples[offset : offset + self.block]


class PcmSource(Source):
    """Raw signed 16-bit little-endian PCM from a binary stream (standard input by default),
    so that `arecord -f S16_LE -r 16000 -c 1 -t raw | gru-edge stream -` works."""

    def __init__(
        self,
        stream: BinaryIO | None = None,
        rate: int = SAMPLE_RATE,
        channels: int = 1,
        block_ms: float = 100.0,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        if rate <= 0 or channels <= 0:
            raise SourceError(
                f"raw PCM needs a positive rate and channel count, got {rate} Hz "
                f"and {channels} channel(s)"
            )
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.channels = channels
        self.frame_bytes = 2 * channels
        self.block_bytes = max(1, round(block_ms * rate / 1000)) * self.frame_bytes
        self.resample = _Resampler(rate, sample_rate, "the PCM stream", "audio")
        self.description = f"raw PCM, {rate} Hz, {channels} channel(s)"

    def __iter__(self) -> Iterator[np.ndarray]:
        leftover = b""
        while True:
            data = self.stream.read(self.block_bytes)
            if not data:
                break
            data = leftover + data
            whole = len(data) - len(data) % self.frame_bytes
            leftover = data[whole:]
            if whole:
                yield self.resample(self._decode(data[:whole]))
        tail = self.resample(np.zeros(0, np.float32), last=True)
        if len(tail):
            yield tail

    def _decode(self, data: bytes) -> np.ndarray:
        samples = np.frombuffer(data, "<i2").reshape(-1, self.channels)
        return (samples.mean(axis=1) / INT16_SCALE).astype(np.float32)
