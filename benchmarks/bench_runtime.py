"""Cost of the device runtime: µs of CPU per 10 ms of audio, end to end, on one thread.

For each model (its quantization and chunk of N frames per invoke) and each audio block size,
feeds a minute of audio (speech-like noise) to a KeywordSpotter (front end + model +
detector, Python included, a decision for every 10 ms frame) and reports the median of
several runs, with the model's invoke time alone beside it, and the latency the chunking
costs: how long after a frame's last sample its decision comes out, in stream time (the
runtime waits for a whole chunk, so a frame's decision waits for the frames after it).
Then, per model, the time from process start to the first decision and the peak resident
memory of a `gru-edge stream MODEL -` process fed raw PCM, and the file size.

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

# 10 ms (a decision per call), 32 and 64 ms (what microphones and Wyoming satellites send:
# 512 and 1024 samples), 100 ms (`gru-edge listen`'s block).
BLOCKS = (160, 512, 1024, 1600)


def test_audio(seconds: float) -> np.ndarray:
    """Noise shaped like speech: bursts of band-limited noise at syllable rate."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.05, int(seconds * SAMPLE_RATE))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(len(noise)) / SAMPLE_RATE)
    return (noise * envelope).astype(np.float32)


def end_to_end(model: Path, audio: np.ndarray, block: int, repeats: int) -> dict:
    """The median of `repeats` runs, alternately timed whole and with each invoke timed (the
    timer's own cost, ~0.15 µs an invoke, stays out of the end-to-end figure)."""
    hops = len(audio) / (SAMPLE_RATE / 100)
    runs, invoke_runs = [], []
    for _ in range(repeats):
        for timing_invokes in (False, True):
            spotter = KeywordSpotter(model, threshold=0.99, num_threads=1)
            interpreter = spotter.stream.model.interpreter
            invoke, invokes = interpreter.invoke, [0.0]

            def timed_invoke(invoke=invoke, invokes=invokes):
                start = time.perf_counter()
                invoke()
                invokes[0] += time.perf_counter() - start

            if timing_invokes:
                interpreter.invoke = timed_invoke
            start = time.perf_counter()
            for offset in range(0, len(audio), block):
                spotter.process(audio[offset : offset + block])
            elapsed = time.perf_counter() - start
            if timing_invokes:
                invoke_runs.append(invokes[0] / hops * 1e6)
            else:
                runs.append(elapsed / hops * 1e6)
    meta = spotter.stream.model.metadata
    delays = decision_delays(model, audio[: SAMPLE_RATE * 10], block)
    return {
        "model": model.name,
        "quantization": meta.quantization,
        "chunk_frames": meta.chunk_frames,
        "block_samples": block,
        "us_per_10ms": round(statistics.median(runs), 2),
        "us_per_10ms_invoke": round(statistics.median(invoke_runs), 2),
        "decision_delay_ms_mean": round(float(np.mean(delays)), 1),
        "decision_delay_ms_max": round(float(np.max(delays)), 1),
    }


def decision_delays(model: Path, audio: np.ndarray, block: int) -> np.ndarray:
    """For every frame, the stream time (ms) from its last sample to its decision: the end of
    the block whose call returned it (the call's own CPU time is the cost above). The
    detector's smoothing and minimum duration come on top, alike for every variant."""
    spotter = KeywordSpotter(model, threshold=0.99, num_threads=1)
    delays = []
    for offset in range(0, len(audio), block):
        heard = spotter.process(audio[offset : offset + block])
        arrived = min(offset + block, len(audio)) / SAMPLE_RATE
        delays.extend((arrived - heard.times) * 1000)
    return np.asarray(delays)


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
        f"s = KeywordSpotter({str(model)!r}); "
        "heard = s.process(np.zeros(160 * (s.metadata.chunk_frames + 2), np.float32)); "
        "print('decided', len(heard.scores), flush=True)"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert result.stdout.startswith("decided") and result.stdout.split()[1] != "0"
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
    parser.add_argument("--blocks", type=int, nargs="+", default=list(BLOCKS))
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
    models = [
        {
            "model": model.name,
            "file_bytes": model.stat().st_size,
            "peak_rss_mb_gru_edge_stream": round(peak_memory(model, audio), 1),
            "startup_ms_to_first_decision": round(
                min(startup_seconds(model) for _ in range(3)) * 1000
            ),
        }
        for model in args.models
    ]
    windows = [
        window_rerun(model, audio[: SAMPLE_RATE * 10], args.repeats) for model in args.window
    ]
    for window in windows:  # each streaming model of its quantization, at 100 ms blocks
        window["times_each_streaming_model_at_1600"] = {
            r["model"]: round(window["us_per_10ms"] / r["us_per_10ms"], 1)
            for r in results
            if r["quantization"] == window["quantization"] and r["block_samples"] == 1600
        }
    report = {
        "benchmark": "KeywordSpotter end to end (front end + model + detector), one thread",
        **environment(),
        "audio_seconds": args.seconds,
        "results": results,
        "models": models,
        "window_rerun_baseline": windows,
    }
    write_report(args.json, report)
    print_tables(report)
    print(f"wrote {args.json}")


def print_tables(report: dict) -> None:
    print(
        "| model | quant | N | block | µs / 10 ms end to end | of which invoke "
        "| decision delay mean / max |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in report["results"]:
        print(
            f"| {r['model']} | {r['quantization']} | {r['chunk_frames']} | "
            f"{r['block_samples']} | {r['us_per_10ms']:.2f} | {r['us_per_10ms_invoke']:.2f} | "
            f"{r['decision_delay_ms_mean']:.0f} / {r['decision_delay_ms_max']:.0f} ms |"
        )
    print()
    print("| model | file | peak resident (`gru-edge stream`) | first decision after start |")
    print("|---|---:|---:|---:|")
    for m in report["models"]:
        print(
            f"| {m['model']} | {m['file_bytes']:,} B | {m['peak_rss_mb_gru_edge_stream']} MB | "
            f"{m['startup_ms_to_first_decision']} ms |"
        )
    for window in report["window_rerun_baseline"]:
        ratios = ", ".join(
            f"{ratio:.0f}x {name}"
            for name, ratio in window["times_each_streaming_model_at_1600"].items()
        )
        print(
            f"re-running a {window['window_frames']}-frame window per decision "
            f"({window['model']}): {window['us_per_10ms']:.1f} µs per 10 ms"
            + (f"; at 100 ms blocks that is {ratios}" if ratios else "")
        )


if __name__ == "__main__":
    main()
