#!/usr/bin/env python3
"""Adds the checksum to gru_edge model files exported before gru_edge wrote one, without
retraining or converting again: the same metadata is embedded again (now sealed, see
gru_edge.modelfile), and a file is replaced only once the weights are proved untouched:
every buffer of the flatbuffer but the metadata's is byte for byte the one it was, and the
interpreter gives exactly the same scores on random feature frames.

    python tools/add_checksum.py gru_edge/models/kws12.*.tflite tests/device/models/*.tflite

Only for files you trust as they are (the shipped ones are what git holds): a checksum
vouches for the bytes it is computed over, nothing more. Needs the `train` extra
(TensorFlow's flatbuffer tools, through gru_edge.training.export).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gru_edge.atomicfile import atomic_path  # noqa: E402
from gru_edge.errors import exit_status  # noqa: E402
from gru_edge.modelfile import METADATA_NAME, ModelFileError, read_metadata  # noqa: E402
from gru_edge.runtime.stream import StreamingModel  # noqa: E402

FRAMES = 500  # random feature frames the scores are compared on


def weight_buffers(data: bytes) -> list[bytes]:
    """Every buffer of the model but the gru_edge metadata's, in order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    metadata = {m.buffer for m in model.metadata or [] if m.name.decode() == METADATA_NAME}
    return [
        b"" if buffer.data is None else bytes(buffer.data)
        for index, buffer in enumerate(model.buffers)
        if index not in metadata
    ]


def add_checksum(path: Path) -> str:
    """Seals the file at `path` in place; what was done, in one line."""
    from gru_edge.training.export import embed_metadata

    old = path.read_bytes()
    metadata = read_metadata(old, str(path))
    if metadata.checksum:
        return f"{path}: has a checksum already ({metadata.checksum})"
    new = embed_metadata(old, metadata)
    if weight_buffers(new) != weight_buffers(old):
        raise ModelFileError(f"{path}: its buffers changed in the rewrite; left as it was")
    frames = np.random.default_rng(0).normal(-5, 3, (FRAMES, metadata.features.num_mel_bins))
    before = StreamingModel(old, kernels="reference").process(frames)
    after = StreamingModel(new, kernels="reference").process(frames)
    if not np.array_equal(before, after):
        raise ModelFileError(f"{path}: its scores changed in the rewrite; left as it was")
    with atomic_path(path) as temporary:
        temporary.write_bytes(new)
    sealed = read_metadata(path)
    return (
        f"{path}: {sealed.checksum}; weights byte for byte the same, scores on {FRAMES} "
        f"frames identical (max |delta| {np.abs(after - before).max():g})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return exit_status(lambda: [print(add_checksum(path)) for path in args.models], "add_checksum")


if __name__ == "__main__":
    sys.exit(main())
