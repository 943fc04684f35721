"""What a training run reports: accuracy per split and per class, confusion matrices, plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; a training machine often has no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gru_edge.atomicfile import atomic_path  # noqa: E402


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


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training and validation, with the learning rate."""
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in history:
            loss_axis.plot(epochs, history[key], style, label=key)
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        if key in history:
            accuracy_axis.plot(epochs, history[key], style, label=key)
    if "learning_rate" in history:
        rate_axis = loss_axis.twinx()
        rate_axis.plot(epochs, history["learning_rate"], ":", color="grey", label="learning rate")
        rate_axis.set_ylabel("learning rate")
    for axis, name in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend(loc="best")
    save_figure(figure, path)


def plot_confusion(
    confusion: list[list[int]], labels: tuple[str, ...], title: str, path: Path
) -> None:
    """The confusion matrix, coloured by the share of each true class, with the counts."""
    counts = np.asarray(confusion)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.5 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    for (row, column), count in np.ndenumerate(counts):
        if count:
            colour = "white" if shares[row, column] > 0.5 else "black"
            axis.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of the true class")
    save_figure(figure, path)


def save_figure(figure, path: Path) -> None:
    """Writes a figure as a PNG atomically and frees it."""
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)
