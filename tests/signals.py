"""Audio the tests make themselves: numpy signals and espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gru_edge import audio
from gru_edge.audio import float_to_int16

SAMPLE_RATE = 16000


def espeak(text: str, path: Path, voice: str = "en-us", speed: int = 160) -> Path:
    """Synthesizes `text` into a WAV file (22050 Hz, 16 bit) with espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: `make test` installs it (apt install espeak-ng)")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit PCM, the inverse of reading int16 / INT16_SCALE."""
    return float_to_int16(samples).astype("<i2")


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """`gru_edge.audio.write_wav`, returning the path (the device tier has no soundfile)."""
    audio.write_wav(path, samples, rate)
    return path


def tone(freq_hz: float, seconds: float, rate: int = SAMPLE_RATE, amplitude: float = 0.5):
    """A sine wave, float32."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    """The frequency of the strongest bin of the spectrum, in Hz."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))
