"""Streaming TFLite export: a trained run becomes the one file a device needs.

The streaming twin of the trained model (one chunk of N frames and the states in, per-frame
scores and new states out; unrolled GRUs) is converted with builtin ops only, in float32,
float16 weights, dynamic-range or full int8. Full int8 is calibrated on streamed features of
real training audio together with the states the float model had at those moments, and each
state's input is given its output's quantization so that the runtime carries raw int8. Dense
layers' weights are quantized per tensor and tensors are unnamed (the signature names stay),
so that an int8 file at one frame a chunk is little more than its weights. The gru_edge
metadata (labels, front end, tensors, detector defaults, where it was checked to run, and a
checksum of the file) goes inside the file, as compact JSON. Each exported model is checked against
the Keras model on the validation and test clips and on a continuous stream of validation
clips, and the figures go to a report beside it. The files and the report are written as one
set (gru_edge.atomicfile): an export killed at any moment leaves the previous set or the new
one, and a folder that cannot be written is refused before the work begins.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from gru_edge import __version__
from gru_edge.atomicfile import atomic_paths, prepare_folder
from gru_edge.audio import int16_to_float
from gru_edge.config import Config, DetectorConfig
from gru_edge.datasets import Clips, Dataset, load_dataset
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.calibration import calibrate, calibration_audio
from gru_edge.features import FeatureExtractor, log_mel
from gru_edge.modelfile import (
    METADATA_NAME,
    QUANTIZATIONS,
    UNSEALED,
    ModelMetadata,
    is_keyword,
    read_metadata,
    seal,
)
from gru_edge.negatives import NegativeAudioError, load_negatives
from gru_edge.runtime.stream import VOUCHED, StreamingModel
from gru_edge.training.model import Mode, convert, state_specs

logger = logging.getLogger(__name__)

FORBIDDEN_OPS = {"WHILE", "DELEGATE", "(subgraphs)"}  # and every CUSTOM op
STREAM_MINUTES = 10.0
# Where a file is known to run before the optional tflite-runtime check: every export runs it
# in ai-edge-litert (the agreement report), and tflite-runtime only when asked.
RUNS_ON_BEFORE_CHECK = {"ai_edge_litert": "yes", "tflite_runtime": "not checked"}
CALIBRATION_CHUNKS = 1000


class ExportError(GruEdgeError):
    """A model that cannot be exported as the device needs it."""


@dataclass
class TrainedRun:
    run_dir: Path
    config: Config
    labels: tuple[str, ...]
    model: keras.Model
    data_root: Path
    data_description: str


def load_run(run_dir: str | Path, data_dir: str | Path | None = None) -> TrainedRun:
    """The best model of a finished run, its settings, labels and where its data lives."""
    run_dir = Path(run_dir)
    for name in ("config.toml", "best.keras", "metrics.json"):
        if not (run_dir / name).is_file():
            raise ExportError(
                f"{run_dir} is not a finished training run (no {name}); "
                f"train one with `gru-edge train`"
            )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    data = metrics["data"]
    root = Path(data_dir) if data_dir else Path(data["root"])
    if not root.is_dir():
        raise ExportError(
            f"the training data of {run_dir} ({root}) is not there; export needs "
            f"it to calibrate and check the model: pass --data DIR"
        )
    train_counts = data["counts"]["train"]
    description = (
        f"{sum(train_counts.values())} training clips ({data['layout']} layout, "
        f"folder {Path(data['root']).name}), background noise: {data['noise']}"
    )
    if data.get("negatives"):
        description += f"; negative audio: {data['negatives']}"
    return TrainedRun(
        run_dir,
        Config.from_toml(run_dir / "config.toml"),
        tuple(metrics["labels"]),
        keras.models.load_model(run_dir / "best.keras", compile=False),  # weights only
        root,
        description,
    )


def streaming_keras_model(run: TrainedRun, chunk_frames: int) -> keras.Model:
    return convert(
        run.model,
        len(run.labels),
        run.config.features,
        run.config.model,
        Mode.STREAMING,
        chunk_frames,
    )


def to_tflite(
    streaming: keras.Model,
    quantization: str,
    calibration: list[dict[str, np.ndarray]] | None = None,
) -> bytes:
    """Converts the streaming model; builtin ops only (a Flex or custom op fails here)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(streaming)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization in ("dynamic", "int8"):
        # One weight scale per dense layer instead of one per output channel: per channel
        # costs 12 bytes a channel (a float32 scale and an int64 zero point), 19 KB of the
        # int8 file, for no agreement with float32 in int8 (95.0 % of stream frames either
        # way) and 0.3 points in dynamic-range (99.4 -> 99.1 %); and tflite-runtime 2.14 runs
        # dynamic-range dense layers with one scale only. TF has no public switch for it.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if not calibration:
            raise ExportError("int8 export needs calibration data")
        converter.representative_dataset = lambda: iter(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        flatbuffer = converter.convert()
    except Exception as e:  # the converter raises many types; the message is what matters
        raise ExportError(f"TFLite conversion ({quantization}) failed: {e}") from None
    if quantization == "int8":
        flatbuffer = _share_state_quantization(flatbuffer)
    return _without_tensor_names(flatbuffer)


def op_census(flatbuffer: bytes) -> dict[str, int]:
    """How many operators of each kind the model holds, over all its subgraphs."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    names = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }
    codes = []
    for opcode in model.operatorCodes:
        code = max(opcode.builtinCode, opcode.deprecatedBuiltinCode)
        name = names.get(code, str(code))
        if opcode.customCode:
            name = f"CUSTOM:{opcode.customCode.decode()}"
        codes.append(name)
    census = Counter(codes[op.opcodeIndex] for graph in model.subgraphs for op in graph.operators)
    if len(model.subgraphs) > 1:
        census["(subgraphs)"] = len(model.subgraphs)
    return dict(sorted(census.items()))


def check_ops(census: dict[str, int], quantization: str) -> None:
    """Refuses what the device interpreters cannot run fast or at all: loops, Flex, custom."""
    bad = sorted(op for op in census if op in FORBIDDEN_OPS or op.startswith("CUSTOM"))
    if bad:
        raise ExportError(
            f"the {quantization} model contains {bad}: the streaming model must "
            f"be unrolled with builtin ops only"
        )


def _share_state_quantization(flatbuffer: bytes) -> bytes:
    """Gives every `state_in_i` the quantization of its `state_out_i`, so the int8 state an
    invoke returns is fed back as it is. Kernels derive their rescaling from the tensors'
    parameters when the model is loaded, so this edit is consistent by construction."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    signature = model.signatureDefs[0]
    graph = model.subgraphs[signature.subgraphIndex]
    inputs = {m.name.decode(): m.tensorIndex for m in signature.inputs}
    outputs = {m.name.decode(): m.tensorIndex for m in signature.outputs}
    for name, index in inputs.items():
        if name.startswith("state_in_"):
            source = graph.tensors[outputs[name.replace("state_in_", "state_out_")]]
            graph.tensors[index].quantization.scale = list(source.quantization.scale)
            graph.tensors[index].quantization.zeroPoint = list(source.quantization.zeroPoint)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _without_tensor_names(flatbuffer: bytes) -> bytes:
    """The model with its tensors unnamed (3 KB of the shipped model): interpreters bind
    inputs and outputs by their signature names, which stay."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def embed_metadata(flatbuffer: bytes, metadata: ModelMetadata) -> bytes:
    """The model with its gru_edge metadata (in the buffer of an older entry, if it has one),
    sealed with the checksum of the whole file (gru_edge.modelfile)."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    model.metadata = list(model.metadata or [])
    entry = next((m for m in model.metadata if m.name.decode() == METADATA_NAME), None)
    if entry is None:
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers)
        model.buffers.append(schema.BufferT())
        model.metadata.append(entry)
    unsealed = dataclasses.replace(metadata, checksum=UNSEALED)
    model.buffers[entry.buffer].data = np.frombuffer(unsealed.to_json().encode("utf-8"), np.uint8)
    return seal(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


def calibration_data(
    run: TrainedRun,
    dataset: Dataset,
    float_model: bytes,
    chunk_frames: int,
    count: int = CALIBRATION_CHUNKS,
    seed: int = 0,
) -> list[dict]:
    """(features chunk, states) pairs for int8 calibration: training clips streamed back to
    back through the float model, with the states it had before each chunk."""
    clips = dataset.clips["train"]
    order = np.random.default_rng(seed).permutation(len(clips))
    features = continuous_features(clips, order, run.config)
    model = StreamingModel(float_model)
    n = chunk_frames
    chunks = len(features) // n
    chosen = set(np.linspace(0, chunks - 1, min(count, chunks)).astype(int).tolist())
    names = [s.input for s in model.metadata.states]
    samples = []
    for i in range(chunks):
        chunk = features[i * n : (i + 1) * n]
        if i in chosen:
            samples.append(
                {"features": chunk[np.newaxis], **dict(zip(names, model.states, strict=True))}
            )
        model.process(chunk)
    return samples


def continuous_features(clips: Clips, order: np.ndarray, config: Config) -> np.ndarray:
    """The numpy front end over the clips played back to back as one stream."""
    extractor = FeatureExtractor(config.features)
    return np.concatenate([extractor.accept(int16_to_float(clips.audio[i])) for i in order])


@dataclass
class Reference:
    """The Keras model's per-frame probabilities, computed once for all variants."""

    clip_features: dict[str, np.ndarray]  # split -> (clips, frames, bins)
    clip_scores: dict[str, np.ndarray]
    clip_labels: dict[str, np.ndarray]
    stream_features: np.ndarray
    stream_scores: np.ndarray


def keras_reference(
    run: TrainedRun, dataset: Dataset, minutes: float = STREAM_MINUTES, seed: int = 0
) -> Reference:
    sequence = convert(
        run.model, len(run.labels), run.config.features, run.config.model, Mode.SEQUENCE
    )
    features, scores, labels = {}, {}, {}
    for split in ("validation", "test"):
        clips = dataset.clips[split]
        if not len(clips):
            continue
        features[split] = np.stack(
            [log_mel(int16_to_float(a), run.config.features) for a in clips.audio]
        )
        scores[split] = sequence.predict(features[split], verbose=0, batch_size=64)
        labels[split] = clips.labels
    validation = dataset.clips["validation"]
    clip_seconds = validation.audio.shape[1] / run.config.features.sample_rate
    passes = math.ceil(minutes * 60 / (clip_seconds * len(validation)))
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(validation)) for _ in range(passes)])
    stream = continuous_features(validation, order, run.config)
    stream_scores = sequence.predict(stream[np.newaxis], verbose=0)[0]
    return Reference(features, scores, labels, stream, stream_scores)


def agreement(model_bytes: bytes, reference: Reference) -> dict:
    """How the exported model compares with Keras: per clip (state reset) and on the stream."""
    model = StreamingModel(model_bytes)
    report = {}
    for split, features in reference.clip_features.items():
        expected = reference.clip_scores[split]
        # A clip's decision is its last frame's: the chunk holding it is completed with frames
        # of silence (the log floor, as `gru-edge eval` gives them). They change nothing before
        # them in float32 and int8 (causal); dynamic-range quantizes a chunk's activations
        # together, which moves the frames before them by at most 2e-4 (measured).
        frames = features.shape[1]
        silence = np.log(model.metadata.features.log_floor)
        padding = np.full((-frames % model.chunk_frames, features.shape[2]), silence, np.float32)
        deltas, decisions = [], []
        for clip, keras_scores in zip(features, expected, strict=True):
            model.reset()
            scores = model.process(np.concatenate((clip, padding)))[:frames]
            deltas.append(np.abs(scores - keras_scores).max())
            decisions.append(int(np.argmax(scores[-1])))
        decisions = np.asarray(decisions)
        keras_decisions = np.argmax(expected[:, -1], axis=1)
        report[split] = {
            "clips": len(decisions),
            "max_abs_delta_p": float(max(deltas)),
            "argmax_agreement": float(np.mean(decisions == keras_decisions)),
            "accuracy": float(np.mean(decisions == reference.clip_labels[split])),
            "keras_accuracy": float(np.mean(keras_decisions == reference.clip_labels[split])),
        }
    model.reset()
    scores = model.process(reference.stream_features)
    expected = reference.stream_scores[: len(scores)]
    keywords = np.array([is_keyword(label) for label in model.labels])
    threshold = model.metadata.detector.threshold
    report["stream"] = {
        "minutes": round(len(scores) * model.metadata.features.hop_ms / 60000, 2),
        "max_abs_delta_p": float(np.abs(scores - expected).max()),
        "frame_argmax_agreement": float(np.mean(scores.argmax(1) == expected.argmax(1))),
        "frame_detection_agreement": float(
            np.mean(
                _detections(scores, keywords, threshold)
                == _detections(expected, keywords, threshold)
            )
        ),
    }
    return report


def _detections(scores: np.ndarray, keywords: np.ndarray, threshold: float) -> np.ndarray:
    """Per frame, the keyword whose score reaches the detector threshold, or -1 for none:
    the decision the device acts on, before smoothing."""
    masked = np.where(keywords, scores, 0.0)
    best = masked.argmax(axis=1)
    return np.where(masked.max(axis=1) >= threshold, best, -1)


def check_in_tflite_runtime(
    model_bytes: bytes, python: Path, features: np.ndarray
) -> tuple[str, float | None]:
    """Runs the model in another Python that has tflite-runtime; returns the verdict for the
    metadata and the largest score difference from ai-edge-litert."""
    with tempfile.TemporaryDirectory() as folder:
        model_path, features_path, scores_path = (
            Path(folder) / n for n in ("model.tflite", "features.npy", "scores.npy")
        )
        model_path.write_bytes(model_bytes)
        np.save(features_path, features)
        result = subprocess.run(
            [
                str(python),
                "-m",
                "gru_edge.runtime.replay",
                str(model_path),
                str(features_path),
                str(scores_path),
                "--interpreter",
                "tflite_runtime",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            message = " ".join(result.stderr.split())
            reason = message.partition("replay: error: ")[2] or message or "it failed"
            reason = reason.removeprefix(f"{model_path}: ").removesuffix(f"; {VOUCHED}")
            return f"no: {reason[:300]}", None
        theirs = np.load(scores_path)
    ours = StreamingModel(model_bytes).process(features)
    return "yes", float(np.abs(theirs - ours).max())


def export(
    run_dir: str | Path,
    out: str | Path,
    quantizations: list[str],
    chunk_frames: int = 1,
    data_dir: str | Path | None = None,
    tflite_runtime_python: str | Path | None = None,
    data_description: str | None = None,
    stream_minutes: float = STREAM_MINUTES,
    detector: DetectorConfig | None = None,
    negatives: list[str | Path] | None = None,
    target_fa_per_hour: float = 0.5,
    calibration_minutes: float | None = None,
) -> dict:
    """Exports one file per quantization and the report, as one set; returns the report.
    `detector` replaces the run's detector settings as the defaults the files carry. Each
    file's per-keyword thresholds are calibrated through the runtime to `target_fa_per_hour`
    on validation audio: a stream of `calibration_minutes` (default: the run's validation
    stream) over the validation part of the run's negative audio (`negatives` if it moved),
    then that negative audio alone."""
    quantizations = list(dict.fromkeys(quantizations))
    unknown = [q for q in quantizations if q not in QUANTIZATIONS]
    if unknown or not quantizations:
        raise ExportError(f"unknown quantization {unknown}; choose from {list(QUANTIZATIONS)}")
    if chunk_frames < 1:
        raise ExportError("--chunk-frames must be at least 1")
    run = load_run(run_dir, data_dir)
    if detector is not None:
        run.config = dataclasses.replace(run.config, detector=detector)
    out = Path(out)
    paths = {
        q: out if len(quantizations) == 1 else out.with_name(f"{out.stem}.{q}{out.suffix}")
        for q in quantizations
    }
    report_path = out.with_name(f"{out.stem}.report.json")
    prepare_folder(out.parent)  # refused now rather than after minutes of work
    logger.info(
        "exporting %s (%s, %d frame(s) a chunk)",
        run.run_dir,
        ", ".join(quantizations),
        chunk_frames,
    )
    dataset = load_dataset(run.data_root, run.config.data, run.config.features.sample_rate)
    folders = negatives if negatives is not None else run.config.data.negatives
    negative_audio = None
    if folders:
        try:
            negative_audio = load_negatives(
                folders,
                run.config.data.words,
                run.config.features.sample_rate,
                validation_percentage=run.config.data.negatives_validation_percentage,
                testing_percentage=run.config.data.negatives_testing_percentage,
            )
        except NegativeAudioError as e:
            moved = "" if negatives else "; if the run's negative audio moved, pass --negatives DIR"
            raise ExportError(f"{e}{moved}") from None
    minutes = calibration_minutes or run.config.sequences.validation_minutes
    logger.info("building %g min of validation audio to calibrate the thresholds on", minutes)
    threshold_audio = calibration_audio(run.data_root, run.config, negative_audio, minutes)
    streaming = streaming_keras_model(run, chunk_frames)
    float32 = to_tflite(streaming, "float32")
    calibration = None
    if "int8" in quantizations:
        logger.info("calibrating int8 on streamed training audio and the float model's states")
        float_model = _with_metadata(float32, run, chunk_frames, "float32", {}, data_description)
        calibration = calibration_data(run, dataset, float_model, chunk_frames)
    logger.info("computing the Keras model's scores on the validation and test clips and a stream")
    reference = keras_reference(run, dataset, stream_minutes)

    report = {"run": str(run.run_dir), "chunk_frames": chunk_frames, "variants": {}}
    models = {}
    for quantization in quantizations:
        if quantization == "float32":
            flatbuffer = float32
        else:
            flatbuffer = to_tflite(streaming, quantization, calibration)
        census = op_census(flatbuffer)
        check_ops(census, quantization)
        runs_on = dict(RUNS_ON_BEFORE_CHECK)
        with_metadata = functools.partial(
            _with_metadata, flatbuffer, run, chunk_frames, quantization, census, data_description
        )
        model = with_metadata(runs_on)
        variant = {"file": str(paths[quantization]), "ops": census, **agreement(model, reference)}
        thresholds = calibrate(
            StreamingModel(model).process(threshold_audio.frames),
            threshold_audio.occurrences,
            threshold_audio.marked,
            run.labels,
            run.config.features,
            threshold_audio.hours,
            run.config.detector,
            target_fa_per_hour,
        )
        thresholds["negatives_split"] = [  # for evaluation and mining to split alike
            run.config.data.negatives_validation_percentage,
            run.config.data.negatives_testing_percentage,
        ]
        variant["thresholds"] = thresholds
        model = with_metadata(runs_on, thresholds)
        if tflite_runtime_python:
            verdict, delta = check_in_tflite_runtime(
                model, Path(tflite_runtime_python), reference.stream_features[:3000]
            )
            runs_on["tflite_runtime"] = verdict
            variant["tflite_runtime"] = {"runs": verdict, "max_abs_delta_vs_litert": delta}
            model = with_metadata(runs_on, thresholds)
        models[paths[quantization]] = model
        variant["bytes"] = len(model)
        variant["checksum"] = read_metadata(model).checksum  # ties the report to the file
        report["variants"][quantization] = variant
        logger.info("made %s (%s bytes)", paths[quantization], f"{len(model):,}")
    # All files under temporary names, then renamed together: never a mix (atomicfile).
    files = {**models, report_path: json.dumps(report, indent=1).encode("utf-8")}
    with atomic_paths(list(files)) as temporaries:
        for temporary, content in zip(temporaries, files.values(), strict=True):
            temporary.write_bytes(content)
    logger.info("%s", report_table(report))
    logger.info("wrote %s", ", ".join(str(path) for path in files))
    return report


def _with_metadata(
    flatbuffer: bytes,
    run: TrainedRun,
    chunk_frames: int,
    quantization: str,
    census: dict[str, int],
    data_description: str | None,
    runs_on: dict[str, str] | None = None,
    thresholds: dict | None = None,
) -> bytes:
    """The file as the device gets it; `thresholds` is what `calibrate` returned."""
    calibration = {k: v for k, v in (thresholds or {}).items() if k != "thresholds"}
    metadata = ModelMetadata(
        labels=run.labels,
        features=run.config.features,
        chunk_frames=chunk_frames,
        states=tuple(state_specs(run.config.model, run.config.features)),
        quantization=quantization,
        detector=run.config.detector,
        training_data=data_description or run.data_description,
        gru_edge_version=__version__,
        runs_on=runs_on or RUNS_ON_BEFORE_CHECK,
        ops=census,
        thresholds=dict((thresholds or {}).get("thresholds", {})),
        calibration=calibration,
    )
    return embed_metadata(flatbuffer, metadata)


def report_table(report: dict) -> str:
    """The report as a markdown table, one row per variant."""
    rows = [
        "| variant | bytes | ops | val max Δp | val argmax agree | val acc | test acc | "
        "stream max Δp | stream argmax agree | stream detections agree |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in report["variants"].items():
        test = v.get("test", {})
        rows.append(
            f"| {name} | {v['bytes']:,} | {sum(v['ops'].values())} | "
            f"{v['validation']['max_abs_delta_p']:.2e} | "
            f"{v['validation']['argmax_agreement']:.4f} | {v['validation']['accuracy']:.4f} | "
            f"{test.get('accuracy', float('nan')):.4f} | {v['stream']['max_abs_delta_p']:.2e} | "
            f"{v['stream']['frame_argmax_agreement']:.4f} | "
            f"{v['stream']['frame_detection_agreement']:.4f} |"
        )
    return "\n".join(rows)
