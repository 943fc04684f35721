#!/usr/bin/env python3
"""`make test-models`: the tiny model of the tests, committed for the device tier.

Trains the tests' tiny model (TINY in tests/datasets.py) on the tone-burst dataset and exports
it with gru_edge's own export, one frame a chunk, to tests/device/models/tiny.float32.tflite
and tiny.int8.tflite. The device tier (tests/device) runs them where TensorFlow is not
installed: the base install, the tflite-runtime venv, the emulated Pi. Training and export are
seeded, so the same code makes the same files. Run it again when the tiny model's recipe or
the model file format changes: tests/device/test_committed_models.py says when.

    python tools/make_test_models.py [--tflite-runtime-python PATH]

This module's top level imports no TensorFlow: the device tier reads `expected_metadata`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from datasets import TINY_EPOCHS, make_dataset, tiny_config, train_tiny  # noqa: E402

from gru_edge.datasets import SILENCE, UNKNOWN  # noqa: E402

OUT = REPO / "tests" / "device" / "models"
QUANTIZATIONS = ("float32", "int8")
CHUNK_FRAMES = 1
SEED = 0  # of the dataset; gru_edge seeds training and calibration itself
# The files' training data, as their metadata says it.
RECIPE = f"tone bursts of tests/datasets.py (seed {SEED}), TINY config, {TINY_EPOCHS} epochs"


def expected_metadata(quantization: str) -> dict:
    """The metadata fields a committed file holds that are known without training: the ones
    the device tier relies on, and the recipe."""
    config = tiny_config()
    return {
        "labels": (SILENCE, UNKNOWN, *config.data.words),
        "features": config.features,
        "detector": config.detector,
        "chunk_frames": CHUNK_FRAMES,
        "quantization": quantization,
        "training_data": RECIPE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tflite-runtime-python",
        type=Path,
        default=REPO / ".venv-tflite-runtime" / "bin" / "python",
        help="Python of the tflite-runtime venv, to check the files run there "
        "(default: %(default)s, made by `make venv-tflite-runtime`)",
    )
    args = parser.parse_args()
    if not args.tflite_runtime_python.exists():
        parser.error(f"{args.tflite_runtime_python} not found: run `make venv-tflite-runtime`")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # a GPU would train in mixed float16: other files

    from gru_edge.training.export import export  # TensorFlow: here only

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = train_tiny(make_dataset(scratch / "data", seed=SEED), scratch / "run")
        export(
            run,
            scratch / "tiny.tflite",
            list(QUANTIZATIONS),
            chunk_frames=CHUNK_FRAMES,
            tflite_runtime_python=args.tflite_runtime_python,
            data_description=RECIPE,
            stream_minutes=0.5,
        )
        for quantization in QUANTIZATIONS:
            name = f"tiny.{quantization}.tflite"
            shutil.copyfile(scratch / name, OUT / name)
            print(f"wrote {OUT / name} ({(OUT / name).stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
