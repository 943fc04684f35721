"""Shared fixtures. The suite makes its own audio; it never needs a dataset or a microphone.

The device tier (tests/device) loads this file too: nothing here imports TensorFlow or
soundfile before a fixture that needs it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from datasets import make_dataset, train_tiny, word_clip
from signals import espeak, write_wav

# TensorFlow's C++ start-up chatter would bury pytest's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEVICE_MODELS = Path(__file__).parent / "device" / "models"


@pytest.fixture(scope="session", autouse=True)
def audio_cache(tmp_path_factory):
    """Negative audio decoded by the tests is cached in a folder of theirs, not the user's."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


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
    return train_tiny(tiny_data, tmp_path_factory.mktemp("tiny_run") / "run")


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
    )
    return report, out


@pytest.fixture(scope="session")
def chunked_models(tiny_run, tmp_path_factory) -> dict[str, Path]:
    """`tiny_run` exported with 4 frames a chunk, quantization -> file."""
    from gru_edge.training.export import export

    out = tmp_path_factory.mktemp("chunked") / "n4.tflite"
    export(tiny_run, out, ["float32", "int8"], chunk_frames=4, stream_minutes=0.1)
    return {q: out.with_name(f"n4.{q}.tflite") for q in ("float32", "int8")}


@pytest.fixture(scope="session")
def committed_models() -> dict[str, Path]:
    """The tiny model as committed for the device tier, quantization -> file: made by
    tools/make_test_models.py (`make test-models`), trained as `tiny_run` is."""
    return {q: DEVICE_MODELS / f"tiny.{q}.tflite" for q in ("float32", "int8")}


@pytest.fixture(scope="session")
def yes_no(tmp_path_factory) -> tuple[np.ndarray, Path]:
    """Noise, "yes", noise, "no", noise in the tone words of the tiny models (5.5 s, 16 kHz):
    the samples, and the same as a 16-bit WAV file."""
    rng = np.random.default_rng(7)

    def quiet(seconds: float) -> np.ndarray:
        return rng.normal(0, 0.003, int(16000 * seconds))

    audio = np.concatenate(
        [quiet(1.0), word_clip("yes", rng), quiet(1.5), word_clip("no", rng), quiet(1.0)]
    ).astype(np.float32)
    return audio, write_wav(tmp_path_factory.mktemp("yes_no") / "yes_no.wav", audio)
