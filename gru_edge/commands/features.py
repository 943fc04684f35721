"""`gru-edge features`: the log-mel frames of a file, summarised or saved as .npy."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gru_edge.audio import read_audio
from gru_edge.commands.shared import load_config
from gru_edge.features import log_mel


def add_parser(commands) -> None:
    command = commands.add_parser("features", help="compute the log-mel features of a file")
    command.add_argument("audio", type=Path, help="an audio file (WAV; others need soundfile)")
    command.add_argument("--config", type=Path, help="a TOML file with a [features] section")
    command.add_argument("--out", type=Path, help="save the frames as a .npy file")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    features_config = load_config(args.config).features
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
