"""The live source: a microphone read through sounddevice (PortAudio).

Its callback only copies the block into a bounded queue, so the audio thread never waits on
the model; blocks the queue cannot take are dropped and counted, as are the device's own
overflows.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import numpy as np

from gru_edge.audio import SAMPLE_RATE
from gru_edge.extras import require
from gru_edge.runtime.sources import Source, SourceError, _Resampler


def _sounddevice():
    return require("sounddevice", "mic", "the microphone", system_library="libportaudio2")


def input_devices() -> list[dict]:
    """The audio input devices: index, name, channels, default rate, whether it is the default."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default = sd.default.device[0]
    except sd.PortAudioError as e:
        raise SourceError(f"PortAudio cannot list audio devices: {e}") from None
    return [
        {
            "index": i,
            "name": d["name"],
            "channels": d["max_input_channels"],
            "default_rate": d["default_samplerate"],
            "default": i == default,
        }
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


class MicrophoneSource(Source):
    """A live input device, by index or by (part of) its name; the system default if None."""

    def __init__(
        self,
        device: int | str | None = None,
        block_ms: float = 100.0,
        sample_rate: int = SAMPLE_RATE,
        queue_seconds: float = 10.0,
    ) -> None:
        sd = _sounddevice()
        self.device = self._resolve(device)
        info = sd.query_devices(self.device, "input")
        rate = sample_rate
        try:
            sd.check_input_settings(
                device=self.device, channels=1, dtype="float32", samplerate=sample_rate
            )
        except sd.PortAudioError:
            rate = int(info["default_samplerate"])
        self.resample = _Resampler(rate, sample_rate, f"input device {info['name']!r}", "mic")
        self.blocks: queue.Queue[np.ndarray] = queue.Queue(
            maxsize=max(1, round(queue_seconds * 1000 / block_ms))
        )
        self.overflows = 0  # the device lost samples before we got them
        self.dropped = 0  # blocks lost because the consumer fell behind
        self.description = f"microphone {info['name']!r} at {rate} Hz"
        try:
            self.stream = sd.InputStream(
                device=self.device,
                channels=1,
                dtype="float32",
                samplerate=rate,
                blocksize=max(1, round(block_ms * rate / 1000)),
                callback=self._callback,
            )
            self.stream.start()
        except sd.PortAudioError as e:
            raise SourceError(f"cannot open {self.description}: {e}") from None

    def _resolve(self, device: int | str | None) -> int:
        devices = input_devices()
        if not devices:
            raise SourceError(
                "no audio input device found: connect a microphone (PortAudio "
                "sees none; `gru-edge devices` lists what it sees)"
            )
        if device is None:
            default = [d["index"] for d in devices if d["default"]]
            return default[0] if default else devices[0]["index"]
        if isinstance(device, int) or str(device).isdigit():
            index = int(device)
            if index not in [d["index"] for d in devices]:
                raise SourceError(
                    f"no input device with index {index}; inputs: "
                    f"{[(d['index'], d['name']) for d in devices]}"
                )
            return index
        matches = [d for d in devices if str(device).lower() in d["name"].lower()]
        if not matches:
            raise SourceError(
                f"no input device named like {device!r}; inputs: {[d['name'] for d in devices]}"
            )
        return matches[0]["index"]

    def _callback(self, indata, frames, when, status) -> None:
        if status.input_overflow:
            self.overflows += 1
        try:
            self.blocks.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.dropped += 1

    def __iter__(self) -> Iterator[np.ndarray]:
        while self.stream.active or not self.blocks.empty():
            try:
                block = self.blocks.get(timeout=0.5)
            except queue.Empty:
                continue
            yield self.resample(block)

    def close(self) -> None:
        if self.stream.active:
            self.stream.stop()
        self.stream.close()
