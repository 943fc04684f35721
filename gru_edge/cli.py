"""`gru-edge`: the entry point over the subcommands of `gru_edge.commands`.

It builds the parser from the command modules, sets up logging (`--verbose`, `--quiet`) and
runs the chosen command through the one error funnel, `gru_edge.errors.exit_status`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from gru_edge import __version__
from gru_edge.commands import MODULES
from gru_edge.errors import exit_status

LOG_LEVELS = {"quiet": logging.WARNING, "normal": logging.INFO, "verbose": logging.DEBUG}


def _verbosity_options(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const="verbose",
        default=default,
        help="also print debugging messages",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const="quiet",
        default=default,
        help="print only warnings and errors",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru-edge", description="Streaming GRU keyword spotting for small devices."
    )
    parser.add_argument("--version", action="version", version=f"gru_edge {__version__}")
    _verbosity_options(parser, "normal")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.add_parser(commands)
    for command in commands.choices.values():  # `gru-edge train ... -v` works too
        _verbosity_options(command, argparse.SUPPRESS)
    return parser


class CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a message is logged (tests replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbosity: str) -> None:
    """gru_edge's messages as plain lines on stderr (the journal, under systemd)."""
    logger = logging.getLogger("gru_edge")
    logger.handlers = [h for h in logger.handlers if not isinstance(h, CurrentStderr)]
    handler = CurrentStderr()
    handler.setFormatter(
        logging.Formatter(
            "%(levelname)s %(name)s: %(message)s" if verbosity == "verbose" else "%(message)s"
        )
    )
    logger.addHandler(handler)
    logger.setLevel(LOG_LEVELS[verbosity])
    logger.propagate = False  # TensorFlow configures the root logger too: say it once


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbosity)
    return exit_status(lambda: args.run(args), "gru-edge")


if __name__ == "__main__":
    sys.exit(main())
