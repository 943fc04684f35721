"""Cost of the device runtime: µs of CPU per 10 ms of audio, end to end, on one thread.

For each model and audio block size, feeds a minute of audio (speech-like noise) to a
KeywordSpotter (front end + model + detector, Python included, a decision every 10 ms) and
reports the median of several runs, with the model's invoke time alone beside it. Then runs
`gru-edge stream MODEL FILE` as its own process and reports its peak resident memory.
Writes JSON (default benchmarks/results/runtime.json) and prints a markdown table.

    .venv/bin/python benchmarks/bench_runtime.py MODEL.tflite [...] [--blocks 160 1600]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, as on a device that listens all day

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile  # noqa: E402

import gru_edge  # noqa: E402
from gru_edge.runtime.spotter import KeywordSpotter  # noqa: E402

SAMPLE_RATE = 16000


def test_audio(seconds: float) -> np.ndarray:
    """Noise shaped like speech: bursts of band-limited noise at syllable rate."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.05, int(seconds * SAMPLE_RATE))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(len(noise)) / SAMPLE_RATE)
    return (noise * envelope).astype(np.float32)


def end_to_end(model: Path, audio: np.ndarray, block: int, repeats: int) -> dict:
    hops = len(audio) / (SAMPLE_RATE / 100)
    runs, invoke_runs = [], []
    for _ in range(repeats):
        spotter = KeywordSpotter(model, threshold=0.99, num_threads=1)
        interpreter = spotter.stream.model.interpreter
        invoke, invokes = interpreter.invoke, [0.0]

        def timed_invoke(invoke=invoke, invokes=invokes):
            start = time.perf_counter()
            invoke()
            invokes[0] += time.perf_counter() - start

        interpreter.invoke = timed_invoke
        start = time.perf_counter()
        for offset in range(0, len(audio), block):
            spotter.feed(audio[offset : offset + block])
        runs.append((time.perf_counter() - start) / hops * 1e6)
        invoke_runs.append(invokes[0] / hops * 1e6)
    meta = spotter.stream.model.metadata
    return {
        "model": model.name,
        "quantization": meta.quantization,
        "chunk_frames": meta.chunk_frames,
        "block_samples": block,
        "us_per_10ms": round(statistics.median(runs), 2),
        "us_per_10ms_invoke": round(statistics.median(invoke_runs), 2),
        "file_bytes": model.stat().st_size,
    }


def peak_memory(model: Path, audio: np.ndarray) -> float:
    """Peak resident memory (MB) of a process running `gru-edge stream MODEL FILE`."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "audio.wav"
        soundfile.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
        code = (
            "import resource, sys; from gru_edge.cli import main; "
            f"main(['stream', {str(model)!r}, {str(wav)!r}]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--blocks", type=int, nargs="+", default=[160, 1600])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/runtime.json"))
    args = parser.parse_args()

    audio = test_audio(args.seconds)
    results = [
        end_to_end(model, audio, block, args.repeats)
        for model in args.models
        for block in args.blocks
    ]
    memory = {model.name: round(peak_memory(model, audio), 1) for model in args.models}
    report = {
        "benchmark": "KeywordSpotter end to end (front end + model + detector), one thread",
        "gru_edge": gru_edge.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "audio_seconds": args.seconds,
        "results": results,
        "peak_rss_mb_gru_edge_stream": memory,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print("| model | quant | N | block | µs / 10 ms end to end | of which invoke | file |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['model']} | {r['quantization']} | {r['chunk_frames']} | "
            f"{r['block_samples']} | {r['us_per_10ms']:.2f} | {r['us_per_10ms_invoke']:.2f} | "
            f"{r['file_bytes']:,} B |"
        )
    for name, mb in memory.items():
        print(f"peak resident memory of `gru-edge stream {name} FILE`: {mb} MB")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
