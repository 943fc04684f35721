#!/usr/bin/env python3
"""Spot keywords in a WAV file, and show the per-frame scores behind the detections.

    python examples/stream_wav.py FILE.wav [MODEL.tflite]

Only numpy and a TFLite interpreter are needed (the base install). Without MODEL, the model
shipped with gru_edge is used.
"""

import argparse

import numpy as np

from gru_edge.runtime.sources import WavSource
from gru_edge.runtime.spotter import KeywordSpotter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav")
    parser.add_argument("model", nargs="?")
    args = parser.parse_args()

    spotter = KeywordSpotter(args.model)
    peak = np.zeros(len(spotter.labels))
    for block in WavSource(args.wav):  # 100 ms at a time, as a microphone would deliver it
        heard = spotter.process(block)
        if len(heard.scores):
            peak = np.maximum(peak, heard.scores.max(axis=0))
        for detection in heard.detections:
            print(f"{detection.time:7.2f} s  {detection.keyword:<8} {detection.score:.2f}")
    print(
        "highest score of each keyword:",
        ", ".join(f"{k} {peak[spotter.labels.index(k)]:.2f}" for k in spotter.keywords),
    )


if __name__ == "__main__":
    main()
