"""Shared fixtures. The suite makes its own audio; it never needs a dataset or a microphone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from datasets import TINY, make_dataset, word_clip
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


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A small Speech Commands layout of tone-burst "words" (tests/datasets.py)."""
    return make_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A tiny model trained on `tiny_data` until it knows its words (about 15 s)."""
    from gru_edge.config import Config
    from gru_edge.training.train import train

    root = tmp_path_factory.mktemp("tiny_run")
    (root / "tiny.toml").write_text(TINY)
    train(
        tiny_data,
        root / "run",
        Config.from_toml(root / "tiny.toml"),
        epochs=10,
        log=lambda *_: None,
    )
    return root / "run"


@pytest.fixture(scope="session")
def tiny_sequence(tiny_run):
    """The Keras model of `tiny_run` scoring every frame of whole sequences of features."""
    import keras

    from gru_edge.config import Config
    from gru_edge.training.model import Mode, convert

    config = Config.from_toml(tiny_run / "config.toml")
    return convert(
        keras.models.load_model(tiny_run / "best.keras"),
        4,
        config.features,
        config.model,
        Mode.SEQUENCE,
    )


@pytest.fixture(scope="session")
def tiny_models(tiny_run, tmp_path_factory) -> tuple[dict, Path]:
    """`tiny_run` exported in every quantization, one frame a chunk: (report, base path);
    the files are tiny.float32.tflite, tiny.int8.tflite, ... beside the base path."""
    from gru_edge.training.export import export

    out = tmp_path_factory.mktemp("tiny_models") / "tiny.tflite"
    report = export(
        tiny_run,
        out,
        ["float32", "float16", "dynamic", "int8"],
        chunk_frames=1,
        tflite_runtime_python=os.environ.get("GRU_EDGE_TFLITE_RUNTIME_PYTHON"),
        stream_minutes=0.5,
        log=lambda *_: None,
    )
    return report, out


@pytest.fixture(scope="session")
def yes_no(tmp_path_factory) -> tuple[np.ndarray, Path]:
    """Noise, "yes", noise, "no", noise in the tone words of `tiny_models` (5.5 s, 16 kHz):
    the samples, and the same as a 16-bit WAV file."""
    rng = np.random.default_rng(7)

    def quiet(seconds: float) -> np.ndarray:
        return rng.normal(0, 0.003, int(16000 * seconds))

    audio = np.concatenate(
        [quiet(1.0), word_clip("yes", rng), quiet(1.5), word_clip("no", rng), quiet(1.0)]
    ).astype(np.float32)
    path = tmp_path_factory.mktemp("yes_no") / "yes_no.wav"
    soundfile.write(path, audio, 16000, subtype="PCM_16")
    return audio, path
