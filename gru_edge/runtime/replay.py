"""Replays saved feature frames through a model in one interpreter and saves the scores.

    python -m gru_edge.runtime.replay MODEL.tflite FEATURES.npy SCORES.npy [--interpreter NAME]

For comparing interpreters and machines on identical input (the export's tflite-runtime check,
the emulated Raspberry Pi check): each run of it sees exactly the same frames.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gru_edge.errors import GruEdgeError
from gru_edge.runtime.interpreter import BACKENDS
from gru_edge.runtime.stream import StreamingModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("features", help=".npy file of (frames, mel bins) float32")
    parser.add_argument("scores", help=".npy file to write the (frames, labels) scores to")
    parser.add_argument("--interpreter", choices=list(BACKENDS))
    args = parser.parse_args(argv)
    try:
        model = StreamingModel(args.model, backend=args.interpreter)
        np.save(args.scores, model.process(np.load(args.features)))
    except GruEdgeError as e:
        print(f"replay: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
