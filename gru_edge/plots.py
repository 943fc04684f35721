"""The PNGs of gru_edge (matplotlib): training curves, confusion matrices, DET curves and
detection timelines. Files only, never a window: training machines and Pis have no display.

matplotlib is optional (the `plots` extra, part of `train`); callers import this module
through `gru_edge.extras.require`, so a missing matplotlib is one clear line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gru_edge.atomicfile import atomic_path  # noqa: E402
from gru_edge.runtime.detector import Detection  # noqa: E402


def save_figure(figure, path: Path, dpi: int = 110) -> None:
    """Writes a figure as a PNG atomically and frees it."""
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi)
    plt.close(figure)


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


def plot_clip_confusions(result: dict, modes: Sequence[str], folder: Path) -> list[Path]:
    """One confusion matrix per way of playing the clips (state reset, carried)."""
    labels = tuple(result[modes[0]]["per_class"])
    paths = []
    for mode in modes:
        path = folder / f"confusion_{mode}.png"
        plot_confusion(
            result[mode]["confusion"],
            labels,
            f"state {mode}: accuracy {result[mode]['accuracy']:.3f}",
            path,
        )
        paths.append(path)
    return paths


def plot_det(result: dict, path: Path) -> None:
    """False rejection rate against false accepts per hour, over the threshold sweep."""
    figure, axis = plt.subplots(figsize=(7, 5))
    points = result["det"]
    floor = 0.5 / result["hours"]  # zero false accepts drawn at half of one per stream
    for keyword in result["keywords"]:
        fa = [max(p["per_keyword"][keyword]["fa_per_hour"], floor) for p in points]
        axis.plot(
            fa,
            [p["per_keyword"][keyword]["frr"] * 100 for p in points],
            alpha=0.4,
            linewidth=1,
            label=keyword,
        )
    axis.plot(
        [max(p["fa_per_hour"], floor) for p in points],
        [p["frr"] * 100 for p in points],
        color="black",
        linewidth=2.5,
        label="all keywords",
    )
    target = {"color": "red", "linestyle": ":", "linewidth": 1}
    axis.axvline(result["frr_at_fa_per_hour"]["limit"]["fa_per_hour"], **target)
    axis.axhline(result["fa_per_hour_at_frr"]["limit"]["frr"] * 100, **target)
    axis.set_xscale("log")
    axis.set_xlabel("false accepts per hour")
    axis.set_ylabel("false rejection rate (%)")
    axis.set_title(f"DET over {result['hours']:g} h of {result['split']} stream")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7, ncol=2)
    save_figure(figure, path)


def plot_timeline(
    audio: np.ndarray,
    sample_rate: int,
    frame_times: np.ndarray,
    smoothed: dict[str, np.ndarray],
    thresholds: dict[str, float],
    detections: list[Detection],
    title: str,
    path: Path,
) -> None:
    """The waveform above each keyword's smoothed score over time with its threshold (dotted,
    in its colour) and the detections (red lines): what the spotter heard in a recording."""
    figure, (wave, lines) = plt.subplots(
        2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    wave.plot(np.arange(len(audio)) / sample_rate, audio, linewidth=0.4, color="grey")
    wave.set_ylabel("audio")
    for keyword, scores in smoothed.items():
        (line,) = lines.plot(frame_times, scores, linewidth=1.2, label=keyword)
        lines.axhline(thresholds[keyword], color=line.get_color(), linestyle=":", linewidth=1)
    for detection in detections:
        for axis in (wave, lines):
            axis.axvline(detection.time, color="red", alpha=0.5)
        lines.annotate(
            detection.keyword,
            (detection.time, 1.02),
            ha="center",
            color="red",
            fontsize=9,
            annotation_clip=False,
        )
    lines.set_ylim(0, 1.08)
    lines.set_xlabel("time (s)")
    lines.set_ylabel("smoothed keyword score")
    lines.legend(ncol=6, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.18))
    figure.suptitle(title)
    save_figure(figure, path, dpi=100)
