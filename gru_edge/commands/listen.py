"""`gru-edge listen`: keywords live from a microphone, until Ctrl-C or SIGTERM.

Made to run unattended under systemd (examples/gru-edge-listen.service): a lost microphone
(its stream ended, or no audio for --watchdog seconds) ends it with status 2, for systemd to
restart it, or with --reconnect is re-opened; SIGTERM or SIGINT end it with status 0 within a
second, even when the audio server is frozen; --on-detect commands are kept in hand
(gru_edge.runtime.hooks)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING

from gru_edge.commands.shared import add_detection_options, print_detection, spotter
from gru_edge.errors import exit_status
from gru_edge.runtime.detector import Detection
from gru_edge.runtime.spotter import KeywordSpotter

if TYPE_CHECKING:  # imported where it is used: `gru-edge stream` needs no PortAudio
    from gru_edge.runtime.microphone import MicrophoneSource


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"needs a positive number of seconds, got {text!r}")
    return seconds


def add_parser(commands) -> None:
    command = commands.add_parser("listen", help="spot keywords live from a microphone")
    command.add_argument("model", nargs="?", help="the model (default: the shipped one)")
    command.add_argument("--device", help="input device index or (part of its) name")
    command.add_argument(
        "--watchdog",
        type=_seconds,
        default=3.0,
        metavar="SECONDS",
        help="count the microphone as lost when no audio comes for this long; the first "
        "audio takes about 1.3 s through PulseAudio (default: 3)",
    )
    command.add_argument(
        "--reconnect",
        action="store_true",
        help="re-open a lost microphone (its stream ended, or the watchdog fired) instead "
        "of exiting with status 2",
    )
    command.add_argument(
        "--reconnect-for",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="with --reconnect: exit with status 2 when audio is not back after this long, "
        "for a fresh start to look for the device anew (default: 60)",
    )
    command.add_argument(
        "--on-detect",
        metavar="CMD",
        help="shell command to run on each detection, with GRU_EDGE_KEYWORD, "
        "GRU_EDGE_SCORE and GRU_EDGE_TIME set; what it prints goes to stderr",
    )
    command.add_argument(
        "--on-detect-limit",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="kill an --on-detect command, and all it started, after this long (default: 10)",
    )
    add_detection_options(command)
    command.set_defaults(run=run)


def _stop(signum, frame):
    raise KeyboardInterrupt  # a service manager's SIGTERM ends the listener like Ctrl-C


def _report(listener: KeywordSpotter, source: MicrophoneSource) -> None:
    print(
        f"stopped after {listener.seconds_heard:.1f} s; input overflows {source.overflows}, "
        f"blocks dropped {source.dropped}, reconnects {source.reconnects}",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> None:
    from gru_edge.runtime.microphone import portaudio_left_running

    status = exit_status(lambda: _listen(args), "gru-edge")
    if portaudio_left_running():
        # The audio stack keeps a PortAudio call from returning, and finalizing Python and the
        # C libraries under it can hang or crash: leave at once, with the status it earned.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    if status:
        sys.exit(status)


def _listen(args: argparse.Namespace) -> None:
    from gru_edge.runtime.hooks import DetectionCommand
    from gru_edge.runtime.microphone import MicrophoneSource

    # Stopped by a signal, the listener exits with status 0: what systemd counts as a clean
    # stop (an exit status of 143, 128 + SIGTERM, it would count as a failure).
    signal.signal(signal.SIGTERM, _stop)
    # From the first word on, Ctrl-C or SIGTERM at any moment stops cleanly: `run` handles
    # them while it listens, the suppress before it starts and while it cleans up.
    with contextlib.suppress(KeyboardInterrupt), contextlib.ExitStack() as stack:
        listener = spotter(args)
        on_detect = (
            stack.enter_context(DetectionCommand(args.on_detect, args.on_detect_limit))
            if args.on_detect
            else None
        )
        source = stack.enter_context(
            MicrophoneSource(
                args.device,
                watchdog_seconds=args.watchdog,
                reconnect_seconds=args.reconnect_for if args.reconnect else None,
            )
        )
        stack.callback(_report, listener, source)
        print(
            f"listening to {source.description} for {', '.join(listener.keywords)} "
            f"(Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )

        def on_detection(detection: Detection) -> None:
            print_detection(detection, args.json, clock=True)
            if on_detect is not None:  # beside the audio, never in its way
                on_detect(detection)

        listener.run(source, on_detection)
