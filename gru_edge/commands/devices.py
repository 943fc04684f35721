"""`gru-edge devices`: the audio input devices PortAudio sees."""

from __future__ import annotations

import argparse


def add_parser(commands) -> None:
    command = commands.add_parser("devices", help="list audio input devices")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from gru_edge.runtime.microphone import input_devices

    devices = input_devices()
    if not devices:
        print("no audio input devices")
    for d in devices:
        mark = "*" if d["default"] else " "
        print(
            f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['default_rate']:g} Hz)"
        )
