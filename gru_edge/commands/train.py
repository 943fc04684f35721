"""`gru-edge train`: a keyword spotter from a folder of clips (needs the `train` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gru_edge.commands.shared import add_negatives_option
from gru_edge.config import RECIPES, Config
from gru_edge.extras import require


def add_parser(commands) -> None:
    command = commands.add_parser("train", help="train a keyword spotter on a folder of clips")
    command.add_argument(
        "--data",
        type=Path,
        required=True,
        help="one folder of clips per word (the Speech Commands layout)",
    )
    command.add_argument("--out", type=Path, required=True, help="the run folder to write")
    command.add_argument("--config", type=Path, help="a TOML settings file (see `gru-edge config`)")
    command.add_argument("--words", help="the keywords, comma-separated (default: data.words)")
    command.add_argument("--epochs", type=int, help="number of epochs (default: training.epochs)")
    add_negatives_option(
        command,
        "folders of audio with no keyword (speech, music, noise; any length and format), "
        "split by subfolder into train/validation/test (default: data.negatives)",
    )
    command.add_argument(
        "--recipe",
        choices=RECIPES,
        help="stream: long sequences with frame targets, chosen on validation streams; "
        "clips: isolated clips, chosen on clip accuracy (default: training.recipe)",
    )
    command.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last complete epoch",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    training = require("gru_edge.training.train", "train", "gru-edge train")
    config = Config.from_toml(args.config) if args.config else None
    words = tuple(w.strip() for w in args.words.split(",") if w.strip()) if args.words else None
    training.train(
        args.data,
        args.out,
        config=config,
        words=words,
        epochs=args.epochs,
        resume=args.resume,
        negatives=args.negatives,
        recipe=args.recipe,
    )
