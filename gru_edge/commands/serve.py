"""`gru-edge serve`: a Wyoming wake-word service for Home Assistant and Wyoming satellites."""

from __future__ import annotations

import argparse
import socket

from gru_edge.extras import require


def add_parser(commands) -> None:
    command = commands.add_parser(
        "serve",
        help="serve the keywords as wake words over the Wyoming protocol (Home Assistant)",
        description="A Wyoming wake-word service: Home Assistant's Wyoming integration (or a "
        "Wyoming satellite) connects, streams audio and gets each keyword as a detection. "
        "SIGTERM or Ctrl-C stop it within a second, with every client told.",
    )
    command.add_argument(
        "--uri",
        default="tcp://0.0.0.0:10400",
        help="where to listen: tcp://HOST:PORT or unix://PATH (default: tcp://0.0.0.0:10400)",
    )
    command.add_argument(
        "--model",
        nargs="+",
        metavar="MODEL",
        help="model files, each keyword a wake word (default: the shipped model)",
    )
    command.add_argument(
        "--threshold", type=float, help="threshold for every keyword (default: each model's)"
    )
    command.add_argument(
        "--max-clients",
        type=int,
        default=16,
        help="connections served at once; more are told so and closed (default: 16)",
    )
    command.add_argument(
        "--idle-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="close a connection that sends nothing for this long (default: 300; 0: never)",
    )
    command.add_argument(
        "--zeroconf",
        nargs="?",
        const="",
        metavar="NAME",
        help="announce the service on the local network (mDNS) for Home Assistant to discover "
        "(NAME default: gru-edge-HOSTNAME)",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    service = require("gru_edge.serve.service", "serve", "gru-edge serve")
    models = service.WakeModels(args.model, args.threshold)
    server = service.WakeService(models, args.uri, args.max_clients, args.idle_timeout)
    name = args.zeroconf or (f"gru-edge-{socket.gethostname()}" if args.zeroconf == "" else None)
    server.run_until_signalled(name)
