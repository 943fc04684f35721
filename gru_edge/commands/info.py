"""`gru-edge info`: what a gru_edge .tflite file holds, read without TensorFlow."""

from __future__ import annotations

import argparse
from pathlib import Path

from gru_edge.runtime.stream import StreamingModel


def add_parser(commands) -> None:
    command = commands.add_parser("info", help="print what a gru_edge .tflite file holds")
    command.add_argument("model", type=Path)
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    model = StreamingModel(args.model)  # refuses a damaged file, or one without metadata
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
    if meta.thresholds:
        calibration = meta.calibration
        print(
            f"thresholds calibrated to {calibration.get('target_fa_per_hour', '?')} false "
            f"accepts per hour on {calibration.get('hours', 0) * 60:.0f} min of validation "
            f"audio: " + ", ".join(f"{k} {t:g}" for k, t in meta.thresholds.items())
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
    print(
        f"checksum: {meta.checksum} (matches)"
        if meta.checksum
        else "checksum: none (exported before gru_edge wrote checksums): re-export it to add one"
    )
