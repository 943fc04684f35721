"""Where audio comes from: a WAV file, or raw 16-bit PCM on a pipe (the microphone is in
`gru_edge.runtime.microphone`).

Every source yields blocks of mono float32 samples at 16 kHz (the front end's rate), whatever
the device or file delivers, and is closed with `close()` (or as a context manager). Files and
pipes are read a block at a time: memory does not grow with the length of the audio.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gru_edge.audio import (
    MAX_BLOCK_BYTES,
    PCM_WIDTHS,
    SAMPLE_RATE,
    check_rate,
    decode_pcm,
    open_audio,
)
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require


class SourceError(GruEdgeError):
    """An audio source that cannot be opened or read."""


class Resampler:
    """Streaming resampling to 16 kHz with soxr; nothing at all when the rate is already 16 kHz."""

    def __init__(self, rate: int, sample_rate: int, what: str, extra: str) -> None:
        self._stream = None
        if rate != sample_rate:
            purpose = f"{what} is {rate} Hz and gru_edge needs {sample_rate} Hz; resampling it"
            soxr = require("soxr", extra, purpose)
            self._stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return block
        return self._stream.resample_chunk(block, last=last)


class PcmDecoder:
    """Interleaved little-endian integer PCM in pieces of any size (a piece may end inside a
    frame: the rest waits for the next) -> 16 kHz mono float32, channels averaged, resampled.
    For raw PCM on a pipe, and a Wyoming client's audio chunks."""

    def __init__(
        self, rate: int, width: int, channels: int, sample_rate: int, what: str, extra: str
    ) -> None:
        if width not in PCM_WIDTHS or channels < 1:
            raise SourceError(
                f"{what}: {width}-byte samples and {channels} channel(s); integer PCM of 1 to "
                f"4 bytes a sample, one channel or more, is what can be read"
            )
        self.rate, self.width, self.channels = rate, width, channels
        self.frame_bytes = width * channels
        self._leftover = b""
        self._resample = Resampler(rate, sample_rate, what, extra)

    def accept(self, data: bytes) -> np.ndarray:
        data = self._leftover + data
        whole = len(data) - len(data) % self.frame_bytes
        self._leftover = data[whole:]
        mono = decode_pcm(data[:whole], self.width).reshape(-1, self.channels).mean(axis=1)
        return self._resample(mono)

    def finish(self) -> np.ndarray:
        """What the resampler still holds at the end of the stream."""
        return self._resample(np.zeros(0, np.float32), last=True)


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
    """A file (WAV, or any format soundfile reads), a FIFO, or a binary stream of WAV, read a
    block at a time; `realtime` paces the blocks as a microphone would deliver them, otherwise
    as fast as the consumer takes them. The header is read here, so that bad audio is refused
    before anything listens to it; the file is read once and closed at its end. `name` is what
    errors call a stream."""

    def __init__(
        self,
        audio: str | Path | BinaryIO,
        realtime: bool = False,
        block_ms: float = 100.0,
        sample_rate: int = SAMPLE_RATE,
        name: str | None = None,
    ) -> None:
        self.audio = open_audio(audio, name)
        try:
            self.resample = Resampler(self.audio.rate, sample_rate, self.audio.source, "audio")
        except BaseException:
            self.audio.close()
            raise
        self.realtime = realtime
        self.block = max(1, round(block_ms * self.audio.rate / 1000))
        self.sample_rate = sample_rate
        self.description = self.audio.source

    def __iter__(self) -> Iterator[np.ndarray]:
        start = time.monotonic()
        heard = 0
        for block in self._blocks():
            if self.realtime:
                time.sleep(max(0.0, start + heard / self.sample_rate - time.monotonic()))
            heard += len(block)
            yield block

    def _blocks(self) -> Iterator[np.ndarray]:
        try:
            for block in self.audio.blocks(self.block):
                mono = self.resample(block.mean(axis=1))
                if len(mono):
                    yield mono
            tail = self.resample(np.zeros(0, np.float32), last=True)
            if len(tail):
                yield tail
        finally:
            self.audio.close()

    def close(self) -> None:
        self.audio.close()


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
        check_rate(rate, "raw PCM", "give the rate the stream is recorded at")
        if channels <= 0:
            raise SourceError(f"raw PCM needs a positive channel count, got {channels}")
        self.stream = stream if stream is not None else _standard_input()
        self.decoder = PcmDecoder(rate, 2, channels, sample_rate, "the PCM stream", "audio")
        frame_bytes = self.decoder.frame_bytes
        frames = max(1, min(round(block_ms * rate / 1000), MAX_BLOCK_BYTES // frame_bytes))
        self.block_bytes = frames * frame_bytes
        self.description = f"raw PCM, {rate} Hz, {channels} channel(s)"

    def __iter__(self) -> Iterator[np.ndarray]:
        while data := self.stream.read(self.block_bytes):
            samples = self.decoder.accept(data)
            if len(samples):
                yield samples
        tail = self.decoder.finish()
        if len(tail):
            yield tail


def _standard_input() -> BinaryIO:
    """Standard input, where raw PCM can come from: not closed, and not a terminal (nobody
    types audio; reading one would wait for ever)."""
    pipe_it = "pipe raw PCM into it, e.g. arecord -f S16_LE -r 16000 -c 1 -t raw | ..."
    if sys.stdin is None:
        raise SourceError(f"standard input is closed; {pipe_it}")
    if sys.stdin.isatty():
        raise SourceError(f"standard input is a terminal, not audio; {pipe_it}")
    return sys.stdin.buffer
