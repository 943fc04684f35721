"""Replays audio or feature frames through a model in one interpreter and saves the scores.

    python -m gru_edge.runtime.replay MODEL.tflite INPUT SCORES.npy [--interpreter NAME]

INPUT is a WAV file (run through the front end and the model, as a device would) or a .npy
file of feature frames. For comparing interpreters and machines on identical input (the
export's tflite-runtime check, the emulated Raspberry Pi check).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gru_edge.audio import read_audio
from gru_edge.errors import exit_status
from gru_edge.runtime.interpreter import BACKENDS, KERNELS
from gru_edge.runtime.stream import AudioStream, StreamingModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("input", help="a WAV file, or a .npy file of (frames, mel bins) float32")
    parser.add_argument("scores", help=".npy file to write the (frames, labels) scores to")
    parser.add_argument("--interpreter", choices=list(BACKENDS))
    parser.add_argument("--kernels", choices=list(KERNELS), default="default")
    args = parser.parse_args(argv)
    return exit_status(lambda: replay(args), "replay")


def replay(args: argparse.Namespace) -> None:
    model = StreamingModel(args.model, backend=args.interpreter, kernels=args.kernels)
    if args.input.endswith(".npy"):
        scores = model.process(np.load(args.input))
    else:
        scores = AudioStream(model).accept(read_audio(args.input))
    np.save(args.scores, scores)


if __name__ == "__main__":
    sys.exit(main())
