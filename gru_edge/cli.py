"""`gru-edge`: the command line. Argument parsing only; the work is in the library.

Errors a user can act on (`GruEdgeError`, and `OSError` from the paths they give) print
as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

from gru_edge import __version__
from gru_edge.audio import read_audio
from gru_edge.config import Config
from gru_edge.errors import GruEdgeError
from gru_edge.features import log_mel
from gru_edge.modelfile import QUANTIZATIONS
from gru_edge.runtime.stream import StreamingModel


def _load_config(path: Path | None) -> Config:
    return Config.from_toml(path) if path else Config()


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
    _training_module("export").export(
        args.run_dir,
        args.out,
        args.quant,
        chunk_frames=args.chunk_frames,
        data_dir=args.data,
        tflite_runtime_python=args.tflite_runtime,
        data_description=args.data_description,
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
    export.set_defaults(run=_cmd_export)

    info = commands.add_parser("info", help="print what a gru_edge .tflite file holds")
    info.add_argument("model", type=Path)
    info.set_defaults(run=_cmd_info)
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
