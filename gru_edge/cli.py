"""`gru-edge`: the command line. Argument parsing only; the work is in the library.

Errors a user can act on (`GruEdgeError`, and `OSError` from the paths they give) print
as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from gru_edge import __version__
from gru_edge.audio import read_audio
from gru_edge.config import Config, DetectorConfig
from gru_edge.errors import GruEdgeError
from gru_edge.features import log_mel
from gru_edge.modelfile import QUANTIZATIONS
from gru_edge.runtime.detector import Detection
from gru_edge.runtime.sources import MicrophoneSource, PcmSource, WavSource, input_devices
from gru_edge.runtime.spotter import KeywordSpotter, default_model
from gru_edge.runtime.stream import StreamingModel


def _load_config(path: Path | None) -> Config:
    return Config.from_toml(path) if path else Config()


def _detector_settings(path: Path | None) -> DetectorConfig | None:
    """The [detector] of a settings file, or None to keep the model's own."""
    return Config.from_toml(path).detector if path else None


def _cmd_config(args: argparse.Namespace) -> None:
    print(_load_config(args.config).to_toml(), end="")


def _cmd_features(args: argparse.Namespace) -> None:
    features_config = _load_config(args.config).features
    samples = read_audio(args.audio, features_config.sample_rate)
    frames = log_mel(samples, features_config)
    print(
        f"{args.audio}: {len(samples) / features_config.sample_rate:.2f} s, "
        f"{frames.shape[0]} frames x {frames.shape[1]} mel bins"
    )
    if frames.size:
        print(f"log-mel min {frames.min():.2f}, mean {frames.mean():.2f}, max {frames.max():.2f}")
    if args.out:
        np.save(args.out, frames)
        print(f"wrote {args.out}")


def _training_module(name: str):
    """A module of the training package, which needs TensorFlow (the `train` extra)."""
    try:
        return importlib.import_module(f"gru_edge.training.{name}")
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("tensorflow", "keras", "matplotlib"):
            raise GruEdgeError(f"{name} needs {e.name}: pip install 'gru-edge[train]'") from None
        raise


def _cmd_train(args: argparse.Namespace) -> None:
    config = Config.from_toml(args.config) if args.config else None
    words = tuple(w.strip() for w in args.words.split(",") if w.strip()) if args.words else None
    _training_module("train").train(
        args.data, args.out, config=config, words=words, epochs=args.epochs, resume=args.resume
    )


def _cmd_export(args: argparse.Namespace) -> None:
    detector = _detector_settings(args.detector)
    _training_module("export").export(
        args.run_dir,
        args.out,
        args.quant,
        chunk_frames=args.chunk_frames,
        data_dir=args.data,
        tflite_runtime_python=args.tflite_runtime,
        data_description=args.data_description,
        detector=detector,
    )


def _cmd_info(args: argparse.Namespace) -> None:
    model = StreamingModel(args.model)  # refuses a file without metadata, or not matching it
    meta = model.metadata
    features = meta.features
    print(
        f"{args.model}: gru_edge model, {args.model.stat().st_size:,} bytes, "
        f"{meta.quantization}, exported by gru_edge {meta.gru_edge_version}"
    )
    print(f"labels ({len(meta.labels)}): {', '.join(meta.labels)}")
    print(
        f"front end: {features.sample_rate} Hz, {features.window_ms:g} ms window, "
        f"{features.hop_ms:g} ms hop, {features.fft_length}-point FFT, "
        f"{features.num_mel_bins} mel bins {features.lower_edge_hz:g}-"
        f"{features.upper_edge_hz:g} Hz, log floor {features.log_floor:g}"
    )
    print(
        f"input: {meta.feature_input} {meta.chunk_frames} frame(s) a chunk; output: "
        f"{meta.scores_output}"
    )
    for state in meta.states:
        print(f"state: {state.input} -> {state.output} {list(state.shape)} ({state.layer})")
    detector = meta.detector
    print(
        f"detector defaults: threshold {detector.threshold:g}, smoothing "
        f"{detector.smoothing_ms:g} ms, minimum {detector.min_duration_ms:g} ms, refractory "
        f"{detector.refractory_ms:g} ms"
    )
    print(
        f"operators: {sum(meta.ops.values())} ("
        + ", ".join(f"{op} {n}" for op, n in meta.ops.items())
        + ")"
    )
    print(
        "runs on: "
        + "; ".join(f"{name}: {verdict}" for name, verdict in meta.runs_on.items())
        + f" (loaded here with {model.backend})"
    )
    print(f"training data: {meta.training_data}")


def _print_detection(detection: Detection, as_json: bool, clock: bool = False) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "keyword": detection.keyword,
                    "time": round(detection.time, 3),
                    "score": round(detection.score, 4),
                }
            ),
            flush=True,
        )
        return
    prefix = datetime.now().strftime("%H:%M:%S.%f")[:-3] + "  " if clock else ""
    print(
        f"{prefix}{detection.time:9.2f} s  {detection.keyword:<12} {detection.score:.2f}",
        flush=True,
    )


def _spotter(args: argparse.Namespace) -> KeywordSpotter:
    return KeywordSpotter(args.model, threshold=args.threshold, num_threads=args.threads)


def _cmd_stream(args: argparse.Namespace) -> None:
    if len(args.inputs) > 2:
        raise GruEdgeError("stream takes [MODEL] FILE: at most two paths")
    args.model, audio = (None, *args.inputs) if len(args.inputs) == 1 else args.inputs
    spotter = _spotter(args)
    if audio == "-":
        source = PcmSource(rate=args.rate, channels=args.channels)
    else:
        source = WavSource(audio, realtime=args.realtime)
    found = 0
    with source:
        for detection in spotter.detections(source):
            _print_detection(detection, args.json)
            found += 1
    print(
        f"{source.description}: {spotter.seconds_heard:.2f} s of audio, {found} detection(s)",
        file=sys.stderr,
    )


def _stop(signum, frame):
    raise KeyboardInterrupt  # a service manager's SIGTERM ends the listener like Ctrl-C


def _cmd_listen(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _stop)
    spotter = _spotter(args)
    commands: list[subprocess.Popen] = []

    def on_detection(detection: Detection) -> None:
        _print_detection(detection, args.json, clock=True)
        if args.on_detect:  # run it beside the audio, never in its way
            env = {
                **os.environ,
                "GRU_EDGE_KEYWORD": detection.keyword,
                "GRU_EDGE_SCORE": f"{detection.score:.4f}",
                "GRU_EDGE_TIME": f"{detection.time:.3f}",
            }
            commands.append(subprocess.Popen(args.on_detect, shell=True, env=env))
        commands[:] = [c for c in commands if c.poll() is None]

    keywords = ", ".join(label for label in spotter.labels if not label.startswith("_"))
    with MicrophoneSource(args.device) as source:
        try:  # Ctrl-C or SIGTERM at any moment from here on stops cleanly
            print(
                f"listening to {source.description} for {keywords} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            for detection in spotter.detections(source):
                on_detection(detection)
        except KeyboardInterrupt:
            pass
    print(
        f"stopped after {spotter.seconds_heard:.1f} s; input overflows {source.overflows}, "
        f"blocks dropped {source.dropped}",
        file=sys.stderr,
    )


def _cmd_eval(args: argparse.Namespace) -> None:
    try:
        from gru_edge.evaluation.evaluate import evaluate
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "matplotlib":
            raise GruEdgeError("eval needs matplotlib: pip install 'gru-edge[train]'") from None
        raise
    evaluate(
        args.model or default_model(),
        args.data,
        streaming=args.streaming,
        hours=args.hours,
        seed=args.seed,
        json_out=args.json_out,
        plots=args.plots,
        num_threads=args.threads,
        split=args.split,
        detector=_detector_settings(args.detector),
    )


def _cmd_devices(args: argparse.Namespace) -> None:
    devices = input_devices()
    if not devices:
        print("no audio input devices")
    for d in devices:
        mark = "*" if d["default"] else " "
        print(
            f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['default_rate']:g} Hz)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru-edge", description="Streaming GRU keyword spotting for small devices."
    )
    parser.add_argument("--version", action="version", version=f"gru_edge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config = commands.add_parser(
        "config", help="print the settings (defaults, or a TOML file checked and completed)"
    )
    config.add_argument("--config", type=Path, help="a TOML file to check and complete")
    config.set_defaults(run=_cmd_config)

    features = commands.add_parser("features", help="compute the log-mel features of a file")
    features.add_argument("audio", type=Path, help="an audio file (WAV; others need soundfile)")
    features.add_argument("--config", type=Path, help="a TOML file with a [features] section")
    features.add_argument("--out", type=Path, help="save the frames as a .npy file")
    features.set_defaults(run=_cmd_features)

    train = commands.add_parser("train", help="train a keyword spotter on a folder of clips")
    train.add_argument(
        "--data",
        type=Path,
        required=True,
        help="one folder of clips per word (the Speech Commands layout)",
    )
    train.add_argument("--out", type=Path, required=True, help="the run folder to write")
    train.add_argument("--config", type=Path, help="a TOML settings file (see `gru-edge config`)")
    train.add_argument("--words", help="the keywords, comma-separated (default: data.words)")
    train.add_argument("--epochs", type=int, help="number of epochs (default: training.epochs)")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last complete epoch",
    )
    train.set_defaults(run=_cmd_train)

    export = commands.add_parser(
        "export", help="export a trained run as streaming TFLite model(s) with a report"
    )
    export.add_argument("run_dir", type=Path, help="a run folder written by `gru-edge train`")
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the .tflite file (with several --quant: NAME.QUANT.tflite each)",
    )
    export.add_argument(
        "--quant",
        nargs="+",
        default=["float32"],
        choices=QUANTIZATIONS,
        help="one or more of %(choices)s (default: float32)",
    )
    export.add_argument(
        "--chunk-frames",
        type=int,
        default=1,
        help="feature frames (10 ms each) per model invoke (default: 1)",
    )
    export.add_argument(
        "--data",
        type=Path,
        help="the training data, if it moved since training (for calibration and the report)",
    )
    export.add_argument(
        "--tflite-runtime",
        type=Path,
        metavar="PYTHON",
        help="a Python with tflite-runtime installed, to check the models there "
        "(`make venv-tflite-runtime` makes one)",
    )
    export.add_argument(
        "--data-description",
        help="what the model was trained on, for the metadata (default: from the run)",
    )
    export.add_argument(
        "--detector",
        type=Path,
        metavar="TOML",
        help="a settings file whose [detector] the model carries as defaults",
    )
    export.set_defaults(run=_cmd_export)

    info = commands.add_parser("info", help="print what a gru_edge .tflite file holds")
    info.add_argument("model", type=Path)
    info.set_defaults(run=_cmd_info)

    def detection_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--threshold",
            type=float,
            help="detection threshold for every keyword (default: the model's)",
        )
        command.add_argument(
            "--threads", type=int, default=1, help="interpreter threads (default: 1)"
        )
        command.add_argument("--json", action="store_true", help="one JSON object per line")

    stream = commands.add_parser(
        "stream",
        help="print the keywords in a file or raw PCM on stdin",
        description="Spot keywords in FILE (WAV; other formats with "
        "soundfile) or in raw 16-bit PCM on standard input "
        "(FILE is -).",
    )
    stream.add_argument(
        "inputs",
        nargs="+",
        metavar="[MODEL] FILE",
        help="the model (default: the shipped one) and the audio",
    )
    stream.add_argument("--realtime", action="store_true", help="pace a file as a microphone")
    stream.add_argument("--rate", type=int, default=16000, help="raw PCM sample rate")
    stream.add_argument("--channels", type=int, default=1, help="raw PCM channels")
    detection_options(stream)
    stream.set_defaults(run=_cmd_stream)

    listen = commands.add_parser("listen", help="spot keywords live from a microphone")
    listen.add_argument("model", nargs="?", help="the model (default: the shipped one)")
    listen.add_argument("--device", help="input device index or (part of its) name")
    listen.add_argument(
        "--on-detect",
        metavar="CMD",
        help="shell command to run on each detection, with GRU_EDGE_KEYWORD, "
        "GRU_EDGE_SCORE and GRU_EDGE_TIME set",
    )
    detection_options(listen)
    listen.set_defaults(run=_cmd_listen)

    evaluation = commands.add_parser(
        "eval",
        help="measure a model through the runtime: clip accuracy, or FRR and FA/hour",
        description="Clip accuracy on the test clips of DIR (its testing list, or the official "
        "test archive layout), state reset per clip and carried; with --streaming, "
        "false rejections and false accepts per hour on long seeded streams built "
        "from those clips over background noise.",
    )
    evaluation.add_argument("model", nargs="?", help="the model (default: the shipped one)")
    evaluation.add_argument("--data", type=Path, required=True)
    evaluation.add_argument("--json", dest="json_out", type=Path, help="write the report here")
    evaluation.add_argument("--plots", type=Path, help="a folder for the PNG plots")
    evaluation.add_argument("--streaming", action="store_true")
    evaluation.add_argument("--hours", type=float, default=1.0, help="stream length (default 1)")
    evaluation.add_argument("--seed", type=int, default=0)
    evaluation.add_argument(
        "--split",
        choices=["test", "validation"],
        default="test",
        help="validation: to tune on, keeping the test figures honest",
    )
    evaluation.add_argument(
        "--detector",
        type=Path,
        metavar="TOML",
        help="a settings file whose [detector] replaces the model's",
    )
    evaluation.add_argument("--threads", type=int, default=1)
    evaluation.set_defaults(run=_cmd_eval)

    devices = commands.add_parser("devices", help="list audio input devices")
    devices.set_defaults(run=_cmd_devices)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (GruEdgeError, OSError) as e:  # OSError: a path the user gave cannot be written
        print(f"gru-edge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
