"""Shared fixtures. The suite makes its own audio; it never needs a dataset or a microphone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from signals import espeak

# TensorFlow's C++ start-up chatter would bury pytest's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """Ten keywords spoken by espeak-ng, 22050 Hz 16-bit WAV."""
    return espeak(
        "yes no up down left right on off stop go", tmp_path_factory.mktemp("speech") / "speech.wav"
    )


@pytest.fixture(scope="session")
def speech(speech_wav) -> np.ndarray:
    """The same speech as mono float32 at 16 kHz."""
    from gru_edge.audio import read_audio

    return read_audio(speech_wav)
