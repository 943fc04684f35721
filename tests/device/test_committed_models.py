"""The committed tiny models are what tools/make_test_models.py makes today. Checked without
training: a changed label set, front end, detector default, recipe or file format fails here,
and `make test-models` makes them again."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from gru_edge.modelfile import METADATA_NAME, ModelMetadata, metadata_entries, read_metadata

pytestmark = pytest.mark.device

TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_test_models.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("make_test_models", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_the_committed_models_are_the_ones_make_test_models_makes(committed_models):
    tool = load_tool()
    assert sorted(committed_models) == sorted(tool.QUANTIZATIONS)
    for quantization, path in committed_models.items():
        assert path.parent == tool.OUT
        stale = f"{path.name} is stale: run `make test-models`"
        written = json.loads(metadata_entries(path.read_bytes())[METADATA_NAME])
        fields = {field.name for field in dataclasses.fields(ModelMetadata)}
        assert set(written) - {"format"} == fields, stale  # the export writes other fields now
        metadata = read_metadata(path)  # refuses a file format older than this gru_edge's
        assert metadata.checksum, stale  # and it matched the file: read_metadata checks it
        expected = tool.expected_metadata(quantization)
        assert {field: getattr(metadata, field) for field in expected} == expected, stale
