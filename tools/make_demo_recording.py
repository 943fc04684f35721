#!/usr/bin/env python3
"""Makes examples/demo.wav: keywords spoken by speakers of the testing list, over noise.

    python tools/make_demo_recording.py --data ../shared/data/speech_commands

Six clips drawn with a fixed seed from the testing list of a Speech Commands folder (five
keywords and one other word, none of them heard in training), placed 1.5 to 2 s apart over
background noise from the part of the noise recordings kept for testing. The clips are
Speech Commands recordings by Pete Warden, Google, CC BY 4.0; examples/README.md says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile

from gru_edge.config import DataConfig
from gru_edge.datasets import load_dataset

WORDS = ("yes", "stop", "left", "bird", "go", "off")  # "bird" is not a keyword
NOISE_DBFS = -42.0
NOISE_FILE = "pink_noise.wav"  # its test part, shaped to NOISE_DBFS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples" / "demo.wav"
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    keywords = tuple(w for w in WORDS if w != "bird")
    dataset = load_dataset(args.data, DataConfig(words=keywords, unknown_percentage=100.0), 16000)
    test = dataset.index.splits["test"]
    rng = np.random.default_rng(args.seed)
    chosen = []
    for word in WORDS:
        candidates = [r.path for r in test if r.path is not None and r.path.parent.name == word]
        chosen.append(candidates[rng.integers(len(candidates))])
    names = [path.name for path in dataset.index.noise_files]
    noise = dataset.noise["test"][names.index(NOISE_FILE)]
    pieces = [np.zeros(int(16000 * 0.8), np.float32)]
    for path in chosen:
        clip, _ = soundfile.read(path, dtype="float32")
        pieces += [clip, np.zeros(int(16000 * rng.uniform(1.5, 2.0)), np.float32)]
    speech = np.concatenate(pieces)
    background = np.resize(noise, len(speech)).astype(np.float64)
    background *= 10 ** (NOISE_DBFS / 20) / np.sqrt(np.mean(background**2))
    soundfile.write(args.out, np.clip(speech + background, -1, 1), 16000, subtype="PCM_16")
    print(f"wrote {args.out} ({len(speech) / 16000:.1f} s) from:")
    for path in chosen:
        print(f"  {path.relative_to(args.data)}")


if __name__ == "__main__":
    main()
