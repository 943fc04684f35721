#!/usr/bin/env python3
"""Train a custom wake word from its text, then listen for it in a WAV file.

    python examples/train_custom_keyword.py "hey kitchen" --out runs/hey_kitchen \
        [--negatives DIR ...] [--positives DIR] [--wav FILE]

What `gru-edge train --keyword` does, from Python: every offline voice installed says the
phrase and the words near it, a model starts from the shipped model's layers, is trained on
them (and, with --negatives, on a stream inside that audio), exported, calibrated and
measured; RUN_DIR/MODEL_CARD.md says how it went. Needs the `train` extra; `make voices`
adds voices. On 2 CPU cores, about 20 minutes with the default 2000 clips and --negatives.
"""

import argparse
from pathlib import Path

from gru_edge.runtime.sources import WavSource
from gru_edge.runtime.spotter import KeywordSpotter
from gru_edge.training.keyword import CARD, KeywordRun, train_keyword


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phrase")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=2000, help="clips of the phrase")
    parser.add_argument("--negatives", type=Path, nargs="*", default=[], metavar="DIR")
    parser.add_argument("--positives", type=Path, help="your own recordings of the phrase")
    parser.add_argument("--wav", type=Path, help="a recording to listen to afterwards")
    args = parser.parse_args()

    summary = train_keyword(
        KeywordRun(
            args.phrase,
            args.out,
            count=args.count,
            negatives=args.negatives,
            noise=args.negatives,  # the same recordings under the synthetic clips
            positives=args.positives,
        )
    )
    print((args.out / CARD).read_text())
    if args.wav:
        spotter = KeywordSpotter(summary["files"]["dynamic"]["file"])
        for block in WavSource(args.wav):
            for detection in spotter.process(block).detections:
                print(f"{detection.time:7.2f} s  {detection.keyword}  {detection.score:.2f}")


if __name__ == "__main__":
    main()
