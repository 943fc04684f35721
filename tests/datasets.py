"""Small datasets in the Speech Commands layout, made of numpy signals, and the tiny model the
tests train on them.

Each "word" is a tone burst at its own frequency, at a random place and level in a 1 s clip
over faint noise, ending late in the clip: a tiny model learns them in a few epochs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
from signals import write_wav

from gru_edge.config import Config

WORD_HZ = {"yes": 500.0, "no": 900.0, "up": 1400.0, "cat": 2000.0, "dog": 2600.0}


def word_clip(word: str, rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    length = int(16000 * seconds)
    clip = rng.normal(0, 0.003, length)
    start = int(length * rng.uniform(0.2, 0.5))
    burst = length - start - int(length * rng.uniform(0.0, 0.1))  # to near the end: easy
    t = np.arange(burst) / 16000
    envelope = np.hanning(burst) * rng.uniform(0.2, 0.6)
    clip[start : start + burst] += envelope * np.sin(2 * np.pi * WORD_HZ[word] * t)
    return clip.astype(np.float32)


def make_dataset(
    root: Path,
    words=("yes", "no", "up", "cat", "dog"),
    speakers: int = 10,
    clips_per_speaker: int = 2,
    lists: bool = True,
    noise: bool = True,
    seed: int = 0,
) -> Path:
    """Writes root/<word>/<speaker>_nohash_<i>.wav; with `lists`, speakers 0 and 1 are the
    validation list and speaker 2 the testing list; with `noise`, two noise recordings."""
    rng = np.random.default_rng(seed)
    validation, testing = [], []
    for word in words:
        (root / word).mkdir(parents=True)
        for speaker in range(speakers):
            for i in range(clips_per_speaker):
                name = f"{word}/spk{speaker:03d}_nohash_{i}.wav"
                write_wav(root / name, word_clip(word, rng))
                if speaker < 2:
                    validation.append(name)
                elif speaker == 2:
                    testing.append(name)
    if lists:
        (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
        (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    if noise:
        (root / "_background_noise_").mkdir()
        for i in range(2):
            write_wav(
                root / "_background_noise_" / f"noise{i}.wav",
                rng.normal(0, 0.05, 16000 * 15).astype(np.float32),
            )
    return root


# A tiny model on the tiny task, augmentation off (tests/test_augment.py covers it).
TINY = """
[data]
words = ["yes", "no"]
silence_percentage = 50.0
unknown_percentage = 50.0
[augment]
noise_probability = 0.0
time_shift_ms = 0.0
speed = [1.0, 1.0]
gain_db = [0.0, 0.0]
time_masks = 0
freq_masks = 0
context_ms = 0.0
[model]
conv_filters = 8
conv_kernel = 3
gru_units = [32]  # big enough for dynamic-range quantization to act
[training]
recipe = "clips"
epochs = 4
batch_size = 8
learning_rate = 0.01
warmup_epochs = 1
early_stopping_patience = 50
"""
# The model the tests train from TINY: the session's `tiny_run`, and the device tier's
# committed models (tools/make_test_models.py).
TINY_EPOCHS = 10  # enough for the tiny model to know its words


def tiny_config() -> Config:
    return Config.from_dict(tomllib.loads(TINY))


def train_tiny(data: Path, run_dir: Path) -> Path:
    """Trains the tiny model on `data` (a `make_dataset` folder) into `run_dir` (about 15 s)."""
    from gru_edge.training.train import train  # TensorFlow: only where a model is trained

    train(data, run_dir, tiny_config(), epochs=TINY_EPOCHS)
    return run_dir
