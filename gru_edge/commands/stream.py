"""`gru-edge stream`: the keywords in a file, or in raw 16-bit PCM on standard input."""

from __future__ import annotations

import argparse
import sys

from gru_edge.commands.shared import add_detection_options, print_detection, spotter
from gru_edge.errors import GruEdgeError
from gru_edge.runtime.sources import PcmSource, WavSource


def add_parser(commands) -> None:
    command = commands.add_parser(
        "stream",
        help="print the keywords in a file or raw PCM on stdin",
        description="Spot keywords in FILE (WAV; other formats with soundfile) or in raw "
        "16-bit PCM on standard input (FILE is -). FILE is read as it arrives, in constant "
        "memory: a FIFO, or /dev/stdin for WAV from a pipe, works too.",
    )
    command.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] FILE",
        help="the model (default: the shipped one) and the audio",
    )
    command.add_argument("--realtime", action="store_true", help="pace a file as a microphone")
    command.add_argument("--rate", type=int, default=16000, help="raw PCM sample rate")
    command.add_argument("--channels", type=int, default=1, help="raw PCM channels")
    add_detection_options(command)
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if len(args.inputs) > 2:
        raise GruEdgeError("stream takes [MODEL] FILE: at most two paths")
    args.model, audio = (None, *args.inputs) if len(args.inputs) == 1 else args.inputs
    # The audio first: a bad header or a closed stdin is refused before the model loads.
    if audio == "-":
        source = PcmSource(rate=args.rate, channels=args.channels)
    else:
        source = WavSource(audio, realtime=args.realtime)
    found = 0
    with source:
        listener = spotter(args)
        for detection in listener.detections(source):
            print_detection(detection, args.json)
            found += 1
    print(
        f"{source.description}: {listener.seconds_heard:.2f} s of audio, {found} detection(s)",
        file=sys.stderr,
    )
