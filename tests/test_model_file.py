"""The model file's metadata and checksum: the parser over random metadata and random bytes
(hypothesis), a changed weight refused, a file without a checksum loaded with a warning, and
what `info` and `eval` say about a damaged file."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_files import one_weight_changed, without_checksum

from gru_edge.cli import main
from gru_edge.config import DetectorConfig, FeatureConfig
from gru_edge.modelfile import (
    QUANTIZATIONS,
    ModelFileError,
    ModelMetadata,
    StateTensor,
    read_metadata,
)
from gru_edge.runtime.spotter import default_model
from gru_edge.runtime.stream import StreamingModel

PROPERTY = settings(max_examples=200, deadline=None)
SHIPPED = default_model()

names = st.text(min_size=1, max_size=12)
unit = st.floats(0.0, 1.0, exclude_min=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
metadata = st.builds(
    ModelMetadata,
    labels=st.lists(names, min_size=1, max_size=6, unique=True).map(tuple),
    features=st.sampled_from([FeatureConfig(), FeatureConfig(num_mel_bins=32, hop_ms=20.0)]),
    chunk_frames=st.integers(1, 100),
    states=st.lists(
        st.builds(
            StateTensor,
            names,
            names,
            st.lists(st.integers(1, 512), min_size=1, max_size=3).map(tuple),
            names,
        ),
        max_size=3,
    ).map(tuple),
    quantization=st.sampled_from(QUANTIZATIONS),
    detector=st.builds(
        DetectorConfig,
        smoothing_ms=st.floats(0, 1000),
        threshold=unit,
        min_duration_ms=st.floats(0, 1000),
        refractory_ms=st.floats(0, 5000),
    ),
    training_data=st.text(),
    gru_edge_version=st.text(max_size=10),
    runs_on=st.dictionaries(names, st.text(max_size=20), max_size=2),
    ops=st.dictionaries(names, st.integers(0, 100), max_size=4),
    feature_input=names,
    scores_output=names,
    thresholds=st.dictionaries(names, unit, max_size=4),
    calibration=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    checksum=st.just("")
    | st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda digest: "sha256:" + digest),
)


@PROPERTY
@given(metadata)
def test_any_metadata_reads_back_as_it_was_written(meta):
    assert ModelMetadata.from_json(meta.to_json()) == meta


@PROPERTY
@given(
    metadata,
    st.sampled_from([f.name for f in dataclasses.fields(ModelMetadata)] + ["format", "extra"]),
    st.one_of(st.just("delete"), json_values),
)
@pytest.mark.reliability(
    area="model file",
    fault="metadata with a field deleted, added, or of any JSON type or value",
    outcome="parsed and checked, or one ModelFileError: never another exception",
)
def test_any_field_of_any_type_is_read_or_refused_in_one_line(meta, field, value):
    document = json.loads(meta.to_json())
    if value == "delete":
        document.pop(field, None)
    else:
        document[field] = value
    try:
        read = ModelMetadata.from_json(json.dumps(document), "m.tflite")
    except ModelFileError as e:
        assert str(e).startswith("m.tflite: ") and "\n" not in str(e)
    else:
        assert isinstance(read, ModelMetadata)


@PROPERTY
@given(st.binary(max_size=2048), st.booleans())
@pytest.mark.reliability(
    area="model file",
    fault="random bytes as a model file, with or without the TFL3 magic",
    outcome="one ModelFileError naming the file: never another exception",
)
def test_random_bytes_are_refused_in_one_line(data, magic):
    if magic:
        data = data[:4] + b"TFL3" + data[4:]
    with pytest.raises(ModelFileError, match=r"^x\.tflite: [^\n]*export"):
        read_metadata(data, "x.tflite")


@pytest.mark.reliability(
    area="model file",
    fault="one weight byte of the shipped model changed",
    outcome="refused at load: its contents do not match its checksum",
)
def test_a_changed_weight_is_refused_before_the_interpreter_sees_it(tmp_path):
    path = tmp_path / "kws12.int8.tflite"
    path.write_bytes(one_weight_changed(SHIPPED.read_bytes()))
    with pytest.raises(ModelFileError, match=r"do not match its checksum\); download it again"):
        StreamingModel(path)


@pytest.mark.reliability(
    area="model file",
    fault="a model exported before checksums",
    outcome="loads, with a warning that says to re-export it",
)
def test_a_file_without_a_checksum_loads_with_a_warning(tmp_path, caplog, capsys):
    path = tmp_path / "older.tflite"
    path.write_bytes(without_checksum(SHIPPED.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="gru_edge"):
        model = StreamingModel(path)
    assert model.metadata.checksum == ""
    assert f"{path}: carries no checksum" in caplog.text and "re-export it" in caplog.text
    assert main(["info", str(path)]) == 0
    assert "checksum: none" in capsys.readouterr().out


def test_info_says_the_checksum_matched(capsys):
    assert main(["info", str(SHIPPED)]) == 0
    meta = read_metadata(SHIPPED)
    assert f"checksum: {meta.checksum} (matches)" in capsys.readouterr().out


@pytest.mark.reliability(
    area="model file",
    fault="a damaged model given to eval",
    outcome="one line naming the file and what to do, exit 2",
)
def test_eval_refuses_a_damaged_model_in_one_line(tiny_data, tmp_path, capsys):
    path = tmp_path / "flipped.tflite"
    path.write_bytes(one_weight_changed(SHIPPED.read_bytes()))
    assert main(["eval", str(path), "--data", str(tiny_data)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"gru-edge: error: {path}: the file is damaged (its contents do not match its "
        "checksum); download it again or re-export it\n"
    )
