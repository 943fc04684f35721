"""`gru-edge eval`: a model measured through the runtime, clip accuracy or FRR and FA/hour.

Clip accuracy on the test clips of DIR (its testing list, or the official test archive
layout), state reset per clip and carried; with --streaming, false rejections and false
accepts per hour on long seeded streams built from those clips over background noise (and
--negatives audio); with --negatives-only, false accepts per hour on the negative audio
alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gru_edge.commands.shared import add_negatives_option, detector_settings, options


def add_parser(commands) -> None:
    command = commands.add_parser(
        "eval",
        help="measure a model through the runtime: clip accuracy, or FRR and FA/hour",
        description=__doc__,
    )
    command.add_argument("model", nargs="?", help="the model (default: the shipped one)")
    command.add_argument("--data", type=Path, required=True)
    command.add_argument("--json", dest="json_out", type=Path, help="write the report here")
    command.add_argument("--plots", type=Path, help="a folder for the PNG plots")
    command.add_argument("--streaming", action="store_true")
    command.add_argument("--hours", type=float, default=1.0, help="stream length (default 1)")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument(
        "--split",
        choices=["test", "validation"],
        default="test",
        help="validation: to tune on, keeping the test figures honest",
    )
    command.add_argument(
        "--detector",
        type=Path,
        metavar="TOML",
        help="a settings file whose [detector] replaces the model's",
    )
    add_negatives_option(
        command,
        "folders of negative audio whose part of the split talks over the stream (split by "
        "subfolder as in training)",
        default=[],
    )
    command.add_argument(
        "--negatives-only",
        action="store_true",
        help="false accepts per hour on the split's negative audio alone, no keyword in it",
    )
    command.add_argument("--threads", type=int, default=1)
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from gru_edge.evaluation.evaluate import evaluate
    from gru_edge.evaluation.report import report_table
    from gru_edge.runtime.spotter import default_model

    result = evaluate(
        args.model or default_model(),
        args.data,
        num_threads=args.threads,
        detector=detector_settings(args.detector),
        **options(args, "streaming", "hours", "seed", "json_out", "plots", "split", "negatives"),
        negatives_only=args.negatives_only,
    )
    print(report_table(result))
