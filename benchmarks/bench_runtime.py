"""Cost of the device runtime: µs of CPU per 10 ms of audio, end to end, on one thread.

For each model and audio block size, feeds a minute of audio (speech-like noise) to a
KeywordSpotter (front end + model + detector, Python included, a decision every 10 ms) and
reports the median of several runs, with the model's invoke time alone beside it; then, per
model, the time from process start to the first decision, and the peak resident memory of a
`gru-edge stream MODEL -` process fed raw PCM.

With `--window MODEL` (the same trained model exported with a chunk of 98 frames, one second)
it also measures the way most wake-word engines run their model: the whole last second
re-run from a zero state for every decision, at the same decision rate (the front end still
computes each frame once), and reports the ratio. Writes JSON (default
benchmarks/results/runtime.json) and prints a markdown table.

    .venv/bin/python benchmarks/bench_runtime.py MODEL.tflite [...] [--blocks 160 1600]
        [--window MODEL_98_FRAMES.tflite]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, as on a device that listens all day

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import environment, write_report  # noqa: E402

from gru_edge.audio import SAMPLE_RATE  # noqa: E402
from gru_edge.runtime.spotter import KeywordSpotter  # noqa: E402


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
            spotter.process(audio[offset : offset + block])
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


def window_rerun(window_model: Path, audio: np.ndarray, repeats: int) -> dict:
    """µs per 10 ms when every decision re-runs the last second from a zero state."""
    from gru_edge.features import FeatureExtractor
    from gru_edge.runtime.detector import Detector
    from gru_edge.runtime.stream import StreamingModel

    model = StreamingModel(window_model, num_threads=1)
    meta = model.metadata
    window = meta.chunk_frames
    hops = len(audio) / (SAMPLE_RATE / 100)
    runs = []
    for _ in range(repeats):
        features = FeatureExtractor(meta.features)
        detector = Detector(meta.labels, meta.detector, meta.features)
        history = np.zeros((window, meta.features.num_mel_bins), np.float32)
        start = time.perf_counter()
        for offset in range(0, len(audio), 1600):
            for frame in features.accept(audio[offset : offset + 1600]):
                history = np.concatenate((history[1:], frame[np.newaxis]))
                model.reset()
                detector.process(model.process(history)[-1:])
        runs.append((time.perf_counter() - start) / hops * 1e6)
    return {
        "model": window_model.name,
        "quantization": meta.quantization,
        "window_frames": window,
        "us_per_10ms": round(statistics.median(runs), 2),
    }


def startup_seconds(model: Path) -> float:
    """From starting a Python process to the first decision of the spotter in it."""
    code = (
        "import numpy as np; from gru_edge.runtime.spotter import KeywordSpotter; "
        f"s = KeywordSpotter({str(model)!r}); s.process(np.zeros(1600, np.float32)); "
        "print('decided', flush=True)"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert "decided" in result.stdout
    return time.perf_counter() - start


def peak_memory(model: Path, audio: np.ndarray) -> float:
    """Peak resident memory (MB) of `gru-edge stream MODEL -` fed the audio as raw 16-bit PCM
    on stdin, the way a device pipes `arecord` into it: the steady state of an always-on
    spotter, which a whole file read into memory would hide."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork and exec, so the
    # child would report this (larger) benchmark process's peak.
    code = (
        "import re, sys; from gru_edge.cli import main; "
        f"main(['stream', {str(model)!r}, '-']); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], "
        "file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=pcm, check=True, capture_output=True
    )
    return int(result.stderr.decode().strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--blocks", type=int, nargs="+", default=[160, 1600])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--window",
        type=Path,
        nargs="*",
        default=[],
        help="the same model(s) exported with --chunk-frames 98",
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/runtime.json"))
    args = parser.parse_args()

    audio = test_audio(args.seconds)
    results = [
        end_to_end(model, audio, block, args.repeats)
        for model in args.models
        for block in args.blocks
    ]
    memory = {model.name: round(peak_memory(model, audio), 1) for model in args.models}
    startup = {
        model.name: round(min(startup_seconds(model) for _ in range(3)) * 1000)
        for model in args.models
    }
    windows = [
        window_rerun(model, audio[: SAMPLE_RATE * 10], args.repeats) for model in args.window
    ]
    report = {
        "benchmark": "KeywordSpotter end to end (front end + model + detector), one thread",
        **environment(),
        "audio_seconds": args.seconds,
        "results": results,
        "peak_rss_mb_gru_edge_stream": memory,
        "startup_ms_to_first_decision": startup,
        "window_rerun_baseline": windows,
    }
    write_report(args.json, report)
    print("| model | quant | N | block | µs / 10 ms end to end | of which invoke | file |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['model']} | {r['quantization']} | {r['chunk_frames']} | "
            f"{r['block_samples']} | {r['us_per_10ms']:.2f} | {r['us_per_10ms_invoke']:.2f} | "
            f"{r['file_bytes']:,} B |"
        )
    for name, mb in memory.items():
        print(
            f"{name}: peak resident memory of `gru-edge stream` {mb} MB, first decision "
            f"{startup[name]} ms after process start"
        )
    for window in windows:
        streaming = [
            r["us_per_10ms"]
            for r in results
            if r["quantization"] == window["quantization"] and r["block_samples"] == 1600
        ]
        ratio = (
            f", {window['us_per_10ms'] / min(streaming):.0f}x the streaming cost"
            if streaming
            else ""
        )
        print(
            f"re-running a {window['window_frames']}-frame window per decision "
            f"({window['model']}): {window['us_per_10ms']:.1f} µs per 10 ms{ratio}"
        )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
