"""`gru-edge mine`: hard negatives, the windows of negative audio where a model (nearly) fires.

Runs MODEL over the --split part of the negative audio folders (split by subfolder as in
training) and writes a one-second WAV around every moment a keyword's smoothed score reaches
--min-score, for a training round's data.hard_negatives.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(commands) -> None:
    command = commands.add_parser(
        "mine",
        help="keep the windows of long negative audio where a model fires or nearly fires",
        description=__doc__,
    )
    command.add_argument("model", type=Path)
    command.add_argument("--audio", type=Path, nargs="+", required=True, metavar="DIR")
    command.add_argument("--out", type=Path, required=True, help="the folder to write")
    command.add_argument(
        "--split",
        choices=["train", "validation", "test"],
        default="train",
        help="which part of the audio to search (default: train; mining the others would "
        "teach the model the audio it is measured on)",
    )
    command.add_argument(
        "--min-score",
        type=float,
        default=0.5,
        help="the smoothed score that counts as nearly firing (default: 0.5)",
    )
    command.add_argument("--threads", type=int, default=1)
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from gru_edge.evaluation.mining import mine

    summary = mine(args.model, args.audio, args.out, args.split, args.min_score, args.threads)
    print(json.dumps(summary, indent=1))
