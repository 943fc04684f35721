"""Cost of the numpy log-mel front end: µs of CPU per 10 ms of audio, by chunk size.

Feeds a minute of noise to a FeatureExtractor in chunks, single-threaded, and reports the
median and best of several runs. Writes JSON (default benchmarks/results/features.json) and
prints a markdown table.

    .venv/bin/python benchmarks/bench_features.py [--chunks 160 1600] [--seconds 60]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, as on a device that listens all day

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import environment, write_report  # noqa: E402

from gru_edge.config import FeatureConfig  # noqa: E402
from gru_edge.features import FeatureExtractor  # noqa: E402


def measure(chunk: int, seconds: float, repeats: int) -> dict:
    config = FeatureConfig()
    audio = np.random.default_rng(0).normal(0, 0.1, int(seconds * config.sample_rate))
    audio = audio.astype(np.float32)
    chunks = [audio[i : i + chunk] for i in range(0, len(audio) - chunk + 1, chunk)]
    hops = len(chunks) * chunk / config.hop_samples
    runs = []
    for _ in range(repeats):
        extractor = FeatureExtractor(config)
        start = time.perf_counter()
        for piece in chunks:
            extractor.accept(piece)
        runs.append((time.perf_counter() - start) / hops * 1e6)
    return {
        "chunk_samples": chunk,
        "us_per_10ms_median": round(statistics.median(runs), 3),
        "us_per_10ms_best": round(min(runs), 3),
        "audio_seconds": seconds,
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[160, 1600])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/features.json"))
    args = parser.parse_args()

    results = [measure(chunk, args.seconds, args.repeats) for chunk in args.chunks]
    report = {
        "benchmark": "numpy log-mel front end, single thread",
        **environment(),
        "results": results,
    }
    write_report(args.json, report)
    print("| chunk (samples) | µs per 10 ms, median | best |")
    print("|---:|---:|---:|")
    for r in results:
        median, best = r["us_per_10ms_median"], r["us_per_10ms_best"]
        print(f"| {r['chunk_samples']} | {median:.2f} | {best:.2f} |")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
