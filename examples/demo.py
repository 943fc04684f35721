#!/usr/bin/env python3
"""The demo: the shipped model listens to a recording of keywords spoken over noise.

    python examples/demo.py [--wav examples/demo.wav] [--model MODEL] [--png demo_timeline.png]

Prints each detection with its time, then writes a PNG timeline: the waveform, each keyword's
score over time, the detection threshold and the detections. `make demo` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gru_edge.runtime.sources import WavSource
from gru_edge.runtime.spotter import KeywordSpotter

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav", type=Path, default=HERE / "demo.wav")
    parser.add_argument("--model", type=Path, help="default: the model shipped with gru_edge")
    parser.add_argument("--png", type=Path, default=Path("demo_timeline.png"))
    args = parser.parse_args()

    spotter = KeywordSpotter(args.model)
    source = WavSource(args.wav)
    print(
        f"gru_edge demo: {spotter.model_path.name} listening to {args.wav.name} "
        f"({len(source.samples) / source.sample_rate:.1f} s)"
    )
    scores, detections = [], []
    for block in source:
        frame_scores = spotter.stream.accept(block)
        scores.append(frame_scores)
        for detection in spotter.detector.process(frame_scores):
            detections.append(detection)
            print(f"  {detection.time:6.2f} s  {detection.keyword:<6} score {detection.score:.2f}")
    print(f"{len(detections)} keyword(s) detected")
    plot_timeline(source.samples, np.concatenate(scores), detections, spotter, args.png)
    print(f"wrote {args.png}")


def plot_timeline(audio, scores, detections, spotter: KeywordSpotter, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = spotter.stream.model.metadata
    hop = meta.features.hop_ms / 1000
    frame_end = meta.features.window_ms / 1000
    times = np.arange(len(scores)) * hop + frame_end
    spotter.detector.reset()  # smooth the whole recording from its start, not the stream's end
    smoothed = spotter.detector.smooth(scores) if len(scores) else scores
    figure, (wave, lines) = plt.subplots(
        2, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    wave.plot(np.arange(len(audio)) / meta.features.sample_rate, audio, linewidth=0.4, color="grey")
    wave.set_ylabel("audio")
    for i, label in enumerate(meta.labels):
        if not label.startswith("_"):
            lines.plot(times, smoothed[:, i], linewidth=1.2, label=label)
    lines.axhline(
        spotter.detector.config.threshold,
        color="black",
        linestyle=":",
        linewidth=1,
        label="threshold",
    )
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
    figure.suptitle(f"gru_edge: {spotter.model_path.name}, detections in red")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
