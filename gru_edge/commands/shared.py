"""What several commands share: reading a settings file, the detection options, how a
detection is printed, and progress."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from gru_edge.config import Config, DetectorConfig
from gru_edge.runtime.detector import Detection
from gru_edge.runtime.spotter import KeywordSpotter


def options(args: argparse.Namespace, *names: str) -> dict:
    """The named arguments as keyword arguments, for a library function whose parameters are
    named like the command's options."""
    return {name: getattr(args, name) for name in names}


def load_config(path: Path | None) -> Config:
    return Config.from_toml(path) if path else Config()


def detector_settings(path: Path | None) -> DetectorConfig | None:
    """The [detector] of a settings file, or None to keep the model's own."""
    return Config.from_toml(path).detector if path else None


def add_detection_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--threshold",
        type=float,
        help="detection threshold for every keyword (default: the model's)",
    )
    command.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    command.add_argument("--json", action="store_true", help="one JSON object per line")


def add_negatives_option(command: argparse.ArgumentParser, purpose: str, default=None) -> None:
    """`--negatives DIR [DIR ...]`: folders of audio with no keyword, split by subfolder into
    train/validation/test as in training; `purpose` says what this command does with them."""
    command.add_argument(
        "--negatives", type=Path, nargs="+", default=default, metavar="DIR", help=purpose
    )


def spotter(args: argparse.Namespace) -> KeywordSpotter:
    return KeywordSpotter(args.model, threshold=args.threshold, num_threads=args.threads)


def print_detection(detection: Detection, as_json: bool, clock: bool = False) -> None:
    """One line per detection on stdout: JSON, or time, keyword and score (with the wall
    clock in front for a live listener)."""
    if as_json:
        record = {
            "keyword": detection.keyword,
            "time": round(detection.time, 3),
            "score": round(detection.score, 4),
        }
        print(json.dumps(record), flush=True)
        return
    prefix = datetime.now().strftime("%H:%M:%S.%f")[:-3] + "  " if clock else ""
    print(
        f"{prefix}{detection.time:9.2f} s  {detection.keyword:<12} {detection.score:.2f}",
        flush=True,
    )


def print_progress(done: int, total: int, what: str) -> None:
    """A count on one line of stderr at a terminal; a line every tenth of the way in a log."""
    if sys.stderr.isatty():
        print(f"\r{done}/{total} {what}", end="\n" if done == total else "", file=sys.stderr)
    elif done == total or done % max(total // 10, 1) == 0:
        print(f"{done}/{total} {what}", file=sys.stderr, flush=True)
