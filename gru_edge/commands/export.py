"""`gru-edge export`: a trained run as streaming TFLite files with a report (`train` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gru_edge.commands.shared import add_negatives_option, detector_settings, options
from gru_edge.extras import require
from gru_edge.modelfile import QUANTIZATIONS


def add_parser(commands) -> None:
    command = commands.add_parser(
        "export", help="export a trained run as streaming TFLite model(s) with a report"
    )
    command.add_argument("run_dir", type=Path, help="a run folder written by `gru-edge train`")
    command.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the .tflite file (with several --quant: NAME.QUANT.tflite each)",
    )
    command.add_argument(
        "--quant",
        nargs="+",
        default=["float32"],
        choices=QUANTIZATIONS,
        help="one or more of %(choices)s (default: float32)",
    )
    command.add_argument(
        "--chunk-frames",
        type=int,
        default=1,
        help="feature frames (10 ms each) per model invoke (default: 1)",
    )
    command.add_argument(
        "--data",
        type=Path,
        help="the training data, if it moved since training (for calibration and the report)",
    )
    command.add_argument(
        "--tflite-runtime",
        type=Path,
        metavar="PYTHON",
        help="a Python with tflite-runtime installed, to check the models there "
        "(`make venv-tflite-runtime` makes one)",
    )
    command.add_argument(
        "--data-description",
        help="what the model was trained on, for the metadata (default: from the run)",
    )
    command.add_argument(
        "--detector",
        type=Path,
        metavar="TOML",
        help="a settings file whose [detector] the model carries as defaults",
    )
    add_negatives_option(
        command,
        "the run's negative audio folders, if they moved since training (for the threshold "
        "calibration)",
    )
    command.add_argument(
        "--target-fa-per-hour",
        type=float,
        default=0.5,
        help="false accepts per hour, all keywords together, that the per-keyword thresholds "
        "are calibrated to on validation audio (default: 0.5)",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    exporting = require("gru_edge.training.export", "train", "gru-edge export")
    exporting.export(
        args.run_dir,
        args.out,
        args.quant,
        data_dir=args.data,
        tflite_runtime_python=args.tflite_runtime,
        detector=detector_settings(args.detector),
        **options(args, "chunk_frames", "data_description", "negatives", "target_fa_per_hour"),
    )
