"""`gru-edge config`: the settings, defaults or a TOML file checked and completed."""

from __future__ import annotations

import argparse
from pathlib import Path

from gru_edge.commands.shared import load_config


def add_parser(commands) -> None:
    command = commands.add_parser(
        "config", help="print the settings (defaults, or a TOML file checked and completed)"
    )
    command.add_argument("--config", type=Path, help="a TOML file to check and complete")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    print(load_config(args.config).to_toml(), end="")
