"""Streaming TFLite export: equality with Keras, the op census, the metadata and checksum
inside the file, refusal of bad model files, int8 state handling, the set of files written
whole (a kill, a full disk, a folder that cannot be written), and tflite-runtime."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from gru_edge.atomicfile import WriteError, remove_partials
from gru_edge.cli import main
from gru_edge.config import Config
from gru_edge.features import log_mel
from gru_edge.modelfile import METADATA_NAME, ModelFileError, metadata_entries, read_metadata
from gru_edge.runtime.stream import StreamingModel
from gru_edge.training import export as exporting
from gru_edge.training.export import ExportError, check_ops, embed_metadata, export, op_census

TFLITE_RUNTIME_PYTHON = os.environ.get("GRU_EDGE_TFLITE_RUNTIME_PYTHON")


def test_every_variant_is_written_with_a_report(tiny_models):
    report, out = tiny_models
    saved = json.loads(out.with_name("tiny.report.json").read_text())
    assert set(saved["variants"]) == {"float32", "float16", "dynamic", "int8"}
    for quantization, variant in saved["variants"].items():
        path = Path(variant["file"])
        assert (
            path.name == f"tiny.{quantization}.tflite" and path.stat().st_size == variant["bytes"]
        )
        meta = read_metadata(path)  # its checksum matched
        assert meta.quantization == quantization and meta.checksum == variant["checksum"]
        assert variant["stream"]["minutes"] >= 0.5 and "validation" in variant
    assert saved == json.loads(json.dumps(report))


def test_float32_streams_whole_clips_like_keras(tiny_sequence, tiny_models):
    """Clip by clip, state carried from frame to frame: TFLite float32 equals Keras."""
    report, out = tiny_models
    assert report["variants"]["float32"]["validation"]["max_abs_delta_p"] <= 1e-4
    assert report["variants"]["float32"]["stream"]["max_abs_delta_p"] <= 1e-4
    rng = np.random.default_rng(0)
    features = log_mel(rng.normal(0, 0.2, 3 * 16000))
    model = StreamingModel(out.with_name("tiny.float32.tflite"))
    scores = np.concatenate([model.process(features[i : i + 7]) for i in range(0, 294, 7)])
    expected = tiny_sequence(features[np.newaxis, :294]).numpy()[0]
    assert np.abs(scores - expected).max() <= 1e-4


def test_chunks_of_several_frames_give_the_same_scores(tiny_run, tmp_path, tiny_models):
    _, out = tiny_models
    export(
        tiny_run,
        tmp_path / "n3.tflite",
        ["float32"],
        chunk_frames=3,
        stream_minutes=0.1,
    )
    features = log_mel(np.random.default_rng(1).normal(0, 0.2, 16000 * 2))[:192]
    one = StreamingModel(out.with_name("tiny.float32.tflite")).process(features)
    three = StreamingModel(tmp_path / "n3.tflite")
    assert three.chunk_frames == 3
    np.testing.assert_allclose(three.process(features), one, atol=1e-5)


def test_the_op_census_has_no_loop_and_a_looping_model_is_refused(tiny_models):
    report, _ = tiny_models
    for variant in report["variants"].values():
        assert "WHILE" not in variant["ops"] and "FULLY_CONNECTED" in variant["ops"]
        check_ops(variant["ops"], "any")
    inputs = keras.Input((5, 40), batch_size=1)
    looping = keras.Model(inputs, keras.layers.GRU(8, unroll=False)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(looping)
    census = op_census(converter.convert())
    assert "WHILE" in census
    with pytest.raises(ExportError, match=r"contains .*WHILE.*unrolled with builtin ops only"):
        check_ops(census, "float32")


def test_metadata_travels_inside_the_file(tiny_run, tiny_models):
    _, out = tiny_models
    meta = read_metadata(out.with_name("tiny.int8.tflite"))
    config = Config.from_toml(tiny_run / "config.toml")
    assert meta.labels == ("_silence_", "_unknown_", "yes", "no")
    assert meta.features == config.features and meta.detector == config.detector
    assert meta.chunk_frames == 1 and meta.quantization == "int8"
    assert [s.input for s in meta.states] == ["state_in_0", "state_in_1"]
    assert [s.shape for s in meta.states] == [(1, 2, 40), (1, 32)]
    assert meta.runs_on["ai_edge_litert"] == "yes"
    assert "training clips" in meta.training_data and meta.ops["FULLY_CONNECTED"] >= 1
    assert type(meta).from_json(meta.to_json()) == meta


def test_int8_carries_its_state_as_raw_int8(tiny_models):
    report, out = tiny_models
    model = StreamingModel(out.with_name("tiny.int8.tflite"))
    assert all(state.dtype == np.int8 for state in model.states)
    details = model.interpreter.get_signature_runner()
    inputs, outputs = details.get_input_details(), details.get_output_details()
    for i in range(2):
        assert inputs[f"state_in_{i}"]["quantization"] == outputs[f"state_out_{i}"]["quantization"]
    assert report["variants"]["int8"]["validation"]["argmax_agreement"] >= 0.8


def test_files_carry_no_tensor_names_per_channel_dense_scales_or_indented_metadata(tiny_models):
    """What keeps the int8 file small: tensors are unnamed (inputs and outputs keep their
    signature names), a dense layer's weights have one scale, the metadata is compact JSON."""
    _, out = tiny_models
    for quantization in ("float32", "float16", "dynamic", "int8"):
        data = out.with_name(f"tiny.{quantization}.tflite").read_bytes()
        model = StreamingModel(data)  # bound by signature names
        assert model.process(np.zeros((3, 40), np.float32)).shape == (3, 4)
        details = model.interpreter.get_tensor_details()
        assert {d["name"] for d in details} == {""}, quantization
        assert b'{"format":' in data and b"\n" not in metadata_entries(data)[METADATA_NAME]
    for quantization in ("dynamic", "int8"):
        model = flatbuffer_utils.read_model_from_bytearray(
            bytearray(out.with_name(f"tiny.{quantization}.tflite").read_bytes())
        )
        graph, codes = model.subgraphs[0], [c.builtinCode for c in model.operatorCodes]
        dense = [
            graph.tensors[op.inputs[1]]
            for op in graph.operators
            if codes[op.opcodeIndex] == schema.BuiltinOperator.FULLY_CONNECTED
        ]
        quantized = [w for w in dense if w.type == schema.TensorType.INT8]
        # dynamic-range keeps a dense layer of under 1024 weights in float (two of the tiny's)
        assert len(dense) == 3 and len(quantized) >= (3 if quantization == "int8" else 1)
        assert all(len(w.quantization.scale) == 1 for w in quantized)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_model_files_without_or_with_foreign_metadata_are_refused(tmp_path, tiny_models, capsys):
    _, out = tiny_models
    plain = tf.lite.TFLiteConverter.from_keras_model(
        keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    ).convert()
    with pytest.raises(ModelFileError, match="has no gru_edge metadata"):
        StreamingModel(_write(tmp_path / "plain.tflite", plain))
    with pytest.raises(ModelFileError, match="not a TFLite model file"):
        StreamingModel(_write(tmp_path / "text.tflite", b"hello, not a model" * 10))
    good = out.with_name("tiny.float32.tflite")
    meta = read_metadata(good)
    wrong_chunk = dataclasses.replace(meta, chunk_frames=4)
    with pytest.raises(ModelFileError, match="does not belong to this model"):
        StreamingModel(
            _write(tmp_path / "chunk.tflite", embed_metadata(good.read_bytes(), wrong_chunk))
        )
    renamed = dataclasses.replace(
        meta, states=(dataclasses.replace(meta.states[0], input="state_in_9"), meta.states[1])
    )
    with pytest.raises(ModelFileError, match="names input 'state_in_9'"):
        StreamingModel(
            _write(tmp_path / "names.tflite", embed_metadata(good.read_bytes(), renamed))
        )
    assert main(["info", str(tmp_path / "plain.tflite")]) == 2
    assert "has no gru_edge metadata" in capsys.readouterr().err


def test_info_prints_what_the_file_holds(tiny_models, capsys):
    _, out = tiny_models
    assert main(["info", str(out.with_name("tiny.int8.tflite"))]) == 0
    text = capsys.readouterr().out
    for expected in (
        "int8",
        "labels (4): _silence_, _unknown_, yes, no",
        "16000 Hz",
        "state: state_in_1 -> state_out_1 [1, 32] (gru_0)",
        "runs on:",
    ):
        assert expected in text


@pytest.mark.reliability(
    area="export",
    fault="the disk fills up half-way through writing a model",
    outcome="the previous file stays; one line naming the file asked for and the cause",
)
def test_a_failed_export_leaves_the_previous_file_whole(tiny_run, tmp_path, monkeypatch):
    """A real half-written file, which a plain write onto the destination would leave in place
    of the previous model."""
    out = tmp_path / "model.tflite"
    out.write_bytes(b"the previous model")
    write_bytes = Path.write_bytes

    def disk_full_half_way(path, data):
        write_bytes(path, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Path, "write_bytes", disk_full_half_way)
    with pytest.raises(WriteError) as failed:
        export(tiny_run, out, ["float32"], stream_minutes=0.1, calibration_minutes=1)
    monkeypatch.undo()
    assert (
        str(failed.value)
        == f"cannot write {out}: the disk holding {tmp_path} is full: free some space"
    )
    assert out.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


@pytest.mark.reliability(
    area="export",
    fault="--out in a folder that cannot be made (a file stands in its place)",
    outcome="one line naming the folder, before any of the work",
)
def test_a_folder_that_cannot_be_written_is_refused_before_the_work(
    tiny_run, tmp_path, monkeypatch
):
    taken = tmp_path / "taken"
    taken.write_text("a file where the folder should be")
    monkeypatch.setattr(exporting, "load_dataset", lambda *a, **k: pytest.fail("work began"))
    with pytest.raises(WriteError, match=rf"^cannot write in {taken}: {taken} is not a folder$"):
        export(tiny_run, taken / "model.tflite", ["float32", "int8"])


# An export of two variants in a process of its own, described as its second set of files.
EXPORT = (
    "import sys; from gru_edge.training.export import export; "
    "export(sys.argv[1], sys.argv[2], ['float32', 'int8'], stream_minutes=0.1, "
    "calibration_minutes=1, data_description=sys.argv[3])"
)


def exported_set(folder: Path) -> str:
    """Which export the visible files come from (by their data description); fails on a
    mix: every file whole and the one the report names (by checksum), one export for all."""
    report = json.loads((folder / "m.report.json").read_text())
    descriptions = set()
    for quantization, variant in report["variants"].items():
        meta = read_metadata(folder / f"m.{quantization}.tflite")
        assert meta.checksum == variant["checksum"], f"m.{quantization}.tflite is not the report's"
        descriptions.add(meta.training_data)
    assert len(descriptions) == 1, f"a mix of exports: {descriptions}"
    return descriptions.pop()


def listing(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def changed(folder: Path, before: set[str], process: subprocess.Popen) -> set[str]:
    """The folder's listing once it is not `before` (polled every millisecond), or once the
    process has ended."""
    while (now := listing(folder)) == before and process.poll() is None:
        time.sleep(0.001)
    return now


@pytest.mark.reliability(
    area="export",
    fault="SIGKILL during an export of several variants, as it writes them",
    outcome="old set or new set; a kill among the renames is finished by the next writer",
)
def test_a_killed_export_leaves_a_whole_set_and_the_next_one_cleans_up(tiny_run, tmp_path):
    out = tmp_path / "m.tflite"
    quick = {"stream_minutes": 0.1, "calibration_minutes": 1}
    started = time.monotonic()
    export(tiny_run, out, ["float32", "int8"], data_description="first export", **quick)
    seconds = time.monotonic() - started + 5  # and a Python that imports TensorFlow
    rng = np.random.default_rng(0)
    for second, trigger in (("second export", "twice"), ("second export again", "random")):
        visible, previous = listing(tmp_path), exported_set(tmp_path)
        process = subprocess.Popen(
            [sys.executable, "-c", EXPORT, str(tiny_run), str(out), second],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Killed once the folder has changed twice (a first file, then another: where an
        # export used to have its first variant in place beside the old ones; here, the
        # commit of the new set), then at a random moment of the export.
        if trigger == "twice":
            changed(tmp_path, changed(tmp_path, visible, process), process)
        else:
            time.sleep(rng.uniform(0, seconds))
        process.kill()
        process.wait()
        # Killed after the commit record: POSIX renames one file at a time, and the next
        # writer in the folder (an export's first step) finishes the renames.
        if list(tmp_path.glob(".*.commit")):
            remove_partials(tmp_path)
        assert exported_set(tmp_path) in (previous, second)
    export(tiny_run, out, ["float32", "int8"], data_description="third export", **quick)
    assert exported_set(tmp_path) == "third export"
    assert sorted(listing(tmp_path)) == ["m.float32.tflite", "m.int8.tflite", "m.report.json"]


@pytest.mark.skipif(
    not TFLITE_RUNTIME_PYTHON,
    reason="no tflite-runtime venv; `make test` makes one (make venv-tflite-runtime)",
)
def test_tflite_runtime_runs_every_variant_and_the_file_says_so(tiny_models, capsys):
    """All four, dynamic-range too: its dense layers' weights have one scale each, which the
    hybrid FULLY_CONNECTED of tflite-runtime 2.14 supports (one scale per channel it refused)."""
    report, out = tiny_models
    # int8 kernels differ (XNNPACK in LiteRT, builtin ones in tflite-runtime 2.14) by a few
    # LSB a step and the state carries them on; a broken model would be off by ~1. Dynamic-
    # range quantizes each invoke's inputs, with the same small differences.
    tolerances = {"float32": 1e-5, "float16": 1e-5, "dynamic": 0.05, "int8": 0.3}
    for quantization, tolerance in tolerances.items():
        check = report["variants"][quantization]["tflite_runtime"]
        assert check["runs"] == "yes", check
        assert check["max_abs_delta_vs_litert"] <= tolerance, quantization
        path = out.with_name(f"tiny.{quantization}.tflite")
        assert read_metadata(path).runs_on["tflite_runtime"] == "yes"
    assert main(["info", str(out.with_name("tiny.dynamic.tflite"))]) == 0
    assert "tflite_runtime: yes" in capsys.readouterr().out
