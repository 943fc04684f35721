"""`gru-edge listen`: keywords live from a microphone, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys

from gru_edge.commands.shared import add_detection_options, print_detection, spotter
from gru_edge.runtime.detector import Detection
from gru_edge.runtime.microphone import MicrophoneSource


def add_parser(commands) -> None:
    command = commands.add_parser("listen", help="spot keywords live from a microphone")
    command.add_argument("model", nargs="?", help="the model (default: the shipped one)")
    command.add_argument("--device", help="input device index or (part of its) name")
    command.add_argument(
        "--on-detect",
        metavar="CMD",
        help="shell command to run on each detection, with GRU_EDGE_KEYWORD, "
        "GRU_EDGE_SCORE and GRU_EDGE_TIME set",
    )
    add_detection_options(command)
    command.set_defaults(run=run)


def _stop(signum, frame):
    raise KeyboardInterrupt  # a service manager's SIGTERM ends the listener like Ctrl-C


def run(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _stop)
    listener = spotter(args)
    commands: list[subprocess.Popen] = []

    def on_detection(detection: Detection) -> None:
        print_detection(detection, args.json, clock=True)
        if args.on_detect:  # run it beside the audio, never in its way
            env = {
                **os.environ,
                "GRU_EDGE_KEYWORD": detection.keyword,
                "GRU_EDGE_SCORE": f"{detection.score:.4f}",
                "GRU_EDGE_TIME": f"{detection.time:.3f}",
            }
            commands.append(subprocess.Popen(args.on_detect, shell=True, env=env))
        commands[:] = [c for c in commands if c.poll() is None]

    # From the first word on, Ctrl-C or SIGTERM at any moment stops cleanly: `run` handles
    # them while it listens, the suppress before it starts.
    with MicrophoneSource(args.device) as source, contextlib.suppress(KeyboardInterrupt):
        print(
            f"listening to {source.description} for {', '.join(listener.keywords)} "
            f"(Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        listener.run(source, on_detection)
    print(
        f"stopped after {listener.seconds_heard:.1f} s; input overflows {source.overflows}, "
        f"blocks dropped {source.dropped}",
        file=sys.stderr,
    )
