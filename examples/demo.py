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

from gru_edge.audio import SAMPLE_RATE, read_audio
from gru_edge.plots import plot_timeline
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
    waveform = read_audio(args.wav)  # the whole recording, for the plot
    print(
        f"gru_edge demo: {spotter.model_path.name} listening to {args.wav.name} "
        f"({len(waveform) / SAMPLE_RATE:.1f} s)"
    )
    with WavSource(args.wav) as source:  # read 100 ms at a time, as from a microphone
        heard = [spotter.process(block) for block in source]
    detections = [detection for piece in heard for detection in piece.detections]
    for detection in detections:
        print(f"  {detection.time:6.2f} s  {detection.keyword:<6} score {detection.score:.2f}")
    print(f"{len(detections)} keyword(s) detected")

    smoothed = np.concatenate([piece.smoothed for piece in heard])
    plot_timeline(
        waveform,
        SAMPLE_RATE,
        np.concatenate([piece.times for piece in heard]),
        {k: smoothed[:, spotter.labels.index(k)] for k in spotter.keywords},
        spotter.thresholds,
        detections,
        f"gru_edge: {spotter.model_path.name}, detections in red",
        args.png,
    )
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
