"""`gru-edge`: the command line. Argument parsing only; the work is in the library.

Errors a user can act on (`GruEdgeError`, and `OSError` from the paths they give) print
as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from gru_edge import __version__
from gru_edge.audio import read_audio
from gru_edge.config import Config
from gru_edge.errors import GruEdgeError
from gru_edge.features import log_mel


def _load_config(path: Path | None) -> Config:
    return Config.from_toml(path) if path else Config()


def _cmd_config(args: argparse.Namespace) -> None:
    print(_load_config(args.config).to_toml(), end="")


def _cmd_features(args: argparse.Namespace) -> None:
    features_config = _load_config(args.config).features
    samples = read_audio(args.audio, features_config.sample_rate)
    frames = log_mel(samples, features_config)
    print(
        f"{args.audio}: {len(samples) / features_config.sample_rate:.2f} s, "
        f"{frames.shape[0]} frames x {frames.shape[1]} mel bins"
    )
    if frames.size:
        print(f"log-mel min {frames.min():.2f}, mean {frames.mean():.2f}, max {frames.max():.2f}")
    if args.out:
        np.save(args.out, frames)
        print(f"wrote {args.out}")


def _training():
    """The training package, which needs TensorFlow (the `train` extra)."""
    try:
        from gru_edge.training import train
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("tensorflow", "keras", "matplotlib"):
            raise GruEdgeError(f"training needs {e.name}: pip install 'gru-edge[train]'") from None
        raise
    return train


def _cmd_train(args: argparse.Namespace) -> None:
    config = Config.from_toml(args.config) if args.config else None
    words = tuple(w.strip() for w in args.words.split(",") if w.strip()) if args.words else None
    _training().train(
        args.data, args.out, config=config, words=words, epochs=args.epochs, resume=args.resume
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru-edge", description="Streaming GRU keyword spotting for small devices."
    )
    parser.add_argument("--version", action="version", version=f"gru_edge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config = commands.add_parser(
        "config", help="print the settings (defaults, or a TOML file checked and completed)"
    )
    config.add_argument("--config", type=Path, help="a TOML file to check and complete")
    config.set_defaults(run=_cmd_config)

    features = commands.add_parser("features", help="compute the log-mel features of a file")
    features.add_argument("audio", type=Path, help="an audio file (WAV; others need soundfile)")
    features.add_argument("--config", type=Path, help="a TOML file with a [features] section")
    features.add_argument("--out", type=Path, help="save the frames as a .npy file")
    features.set_defaults(run=_cmd_features)

    train = commands.add_parser("train", help="train a keyword spotter on a folder of clips")
    train.add_argument(
        "--data",
        type=Path,
        required=True,
        help="one folder of clips per word (the Speech Commands layout)",
    )
    train.add_argument("--out", type=Path, required=True, help="the run folder to write")
    train.add_argument("--config", type=Path, help="a TOML settings file (see `gru-edge config`)")
    train.add_argument("--words", help="the keywords, comma-separated (default: data.words)")
    train.add_argument("--epochs", type=int, help="number of epochs (default: training.epochs)")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last complete epoch",
    )
    train.set_defaults(run=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (GruEdgeError, OSError) as e:  # OSError: a path the user gave cannot be written
        print(f"gru-edge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
