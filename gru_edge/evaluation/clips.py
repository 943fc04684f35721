"""Clip accuracy of an exported model, computed through the device runtime.

Each test clip is streamed through the model's own front end and TFLite model; its decision
is the class with the highest score on its last scored frame. Two ways: the state reset before
every clip (how the clip task is defined), and the clips played back to back with the state
carried (how a device hears them).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from gru_edge.audio import int16_to_float
from gru_edge.config import DataConfig
from gru_edge.datasets import Dataset, load_dataset
from gru_edge.errors import GruEdgeError
from gru_edge.features import num_frames
from gru_edge.runtime.stream import AudioStream, StreamingModel

MODES = ("reset", "carried")


def classification_metrics(
    true: np.ndarray, predicted: np.ndarray, labels: tuple[str, ...]
) -> dict:
    """Accuracy, per-class recall ("accuracy" of that class) and precision, confusion matrix
    (rows: true class, columns: predicted)."""
    n = len(labels)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (true, predicted), 1)
    per_class = {}
    for i, label in enumerate(labels):
        count, hits, claimed = (
            int(confusion[i].sum()),
            int(confusion[i, i]),
            int(confusion[:, i].sum()),
        )
        per_class[label] = {
            "count": count,
            "accuracy": hits / count if count else None,
            "precision": hits / claimed if claimed else None,
        }
    return {
        "clips": int(len(true)),
        "accuracy": float(np.mean(true == predicted)) if len(true) else None,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def model_dataset(
    model: StreamingModel, data_dir: str | Path, split: str, **data_settings
) -> Dataset:
    """The `split` of the dataset at `data_dir`, with the model's keywords and sample rate."""
    config = DataConfig(words=model.metadata.keywords, **data_settings)
    return load_dataset(data_dir, config, model.metadata.features.sample_rate, (split,))


def evaluation_dataset(model: StreamingModel, data_dir: str | Path, split: str = "test") -> Dataset:
    """The dataset at `data_dir` with the model's labels; `split` is what is scored."""
    dataset = model_dataset(model, data_dir, split)
    if dataset.labels != model.labels:
        raise GruEdgeError(
            f"the model's labels {list(model.labels)} are not the dataset's "
            f"classes {list(dataset.labels)}"
        )
    if not len(dataset.clips[split]):
        where = {
            "test": "testing_list.txt, or the official test archive layout",
            "validation": "validation_list.txt",
        }
        raise GruEdgeError(f"{data_dir} has no {split} clips ({where[split]})")
    return dataset


def decisions(stream: AudioStream, audio: np.ndarray, reset: bool) -> np.ndarray:
    """The class each clip (int16, one per row) is decided as, in the given order; -1 for a
    clip too short to complete a frame of its own."""
    scores = clip_scores(stream, audio, reset)
    return np.where(np.isnan(scores[:, 0]), -1, np.argmax(np.nan_to_num(scores), axis=1))


def clip_scores(stream: AudioStream, audio: np.ndarray, reset: bool) -> np.ndarray:
    """The scores (clips, labels) each clip is decided on: its last whole frame's (NaN for a
    clip that completes none). The stream runs N frames a chunk, so the chunk holding that
    frame is completed with silence (state reset per clip) or with the clips after it
    (carried): in float32 and int8 later samples change no earlier frame (the model is
    causal); dynamic-range quantizes a chunk's activations together, by at most 2e-4."""
    features = stream.model.metadata.features
    flush = np.zeros(stream.model.chunk_frames * features.hop_samples, np.float32)
    nothing = np.full(len(stream.labels), np.nan)
    if reset:
        chosen = []
        for clip in audio:
            stream.reset()
            scores = stream.accept(np.concatenate((int16_to_float(clip), flush)))
            count = num_frames(len(clip), features)
            chosen.append(scores[count - 1] if count else nothing)
        return np.asarray(chosen)
    stream.reset()
    pieces = [stream.accept(int16_to_float(clip)) for clip in audio]
    scores = np.concatenate([*pieces, stream.accept(flush)])
    heard = [num_frames(end, features) for end in np.cumsum([len(clip) for clip in audio])]
    return np.asarray(
        [
            scores[count - 1] if count > before else nothing
            for before, count in itertools.pairwise([0, *heard])
        ]
    )


def clip_accuracy(
    model_path: str | Path,
    data_dir: str | Path,
    num_threads: int = 1,
    seed: int = 0,
    split: str = "test",
) -> dict:
    """Accuracy, per class and confusion matrix, in both modes, on the clips of `split`
    (played in a seeded random order when the state is carried)."""
    model = StreamingModel(model_path, num_threads=num_threads)
    dataset = evaluation_dataset(model, data_dir, split)
    clips = dataset.clips[split]
    stream = AudioStream(model)
    order = {
        "reset": np.arange(len(clips)),
        "carried": np.random.default_rng(seed).permutation(len(clips)),
    }
    return {
        "model": str(model_path),
        "data": str(data_dir),
        "split": split,
        "layout": dataset.index.layout,
        "skipped": [{"path": p, "reason": r} for p, r in clips.skipped],
        **{
            mode: classification_metrics(
                clips.labels[order[mode]],
                decisions(stream, clips.audio[order[mode]], mode == "reset"),
                dataset.labels,
            )
            for mode in MODES
        },
    }
