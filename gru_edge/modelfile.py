"""What travels inside a gru_edge .tflite file, and how to read it without TensorFlow.

The export writes a JSON document into the model's metadata (the flatbuffer's `metadata`
table, entry "gru_edge"): labels, front-end settings, chunk size, the names and shapes of the
tensors, quantization, detector defaults and where the file was checked to run. One file is
the whole deployment. Reading uses the `flatbuffers` library directly on the two fields it
needs (`metadata`, `buffers`), because the interpreters ship different schema modules or none.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from flatbuffers import encode, number_types, table

from gru_edge.config import DetectorConfig, FeatureConfig
from gru_edge.errors import GruEdgeError

METADATA_NAME = "gru_edge"
FORMAT = "gru_edge.model/1"
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")

# Field slots of the TFLite schema (schema.fbs): Model.buffers, Model.metadata,
# Metadata.name, Metadata.buffer, Buffer.data, Buffer.offset, Buffer.size.
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class ModelFileError(GruEdgeError):
    """A model file that gru_edge cannot use: the message says why and what to do."""


def is_keyword(label: str) -> bool:
    """Labels that start with "_" (`_silence_`, `_unknown_`) are classes a model knows but
    never announces; every other label is a keyword."""
    return not label.startswith("_")


@dataclass(frozen=True)
class StateTensor:
    """A state carried from one invoke to the next: fed as `input`, returned as `output`.
    The model builder names the streaming model's tensors with these; the file carries them."""

    input: str
    output: str
    shape: tuple[int, ...]
    layer: str


@dataclass(frozen=True)
class ModelMetadata:
    labels: tuple[str, ...]
    features: FeatureConfig
    chunk_frames: int
    states: tuple[StateTensor, ...]
    quantization: str
    detector: DetectorConfig
    training_data: str
    gru_edge_version: str
    runs_on: dict[str, str]  # interpreter -> "yes", "no: why", or "not checked"
    ops: dict[str, int]  # builtin operator -> how many
    feature_input: str = "features"
    scores_output: str = "scores"
    # Per-keyword thresholds calibrated at export to a false-accept rate (empty: use
    # detector.threshold for every keyword), and how they were calibrated.
    thresholds: dict[str, float] = dataclasses.field(default_factory=dict)
    calibration: dict = dataclasses.field(default_factory=dict)

    @property
    def keywords(self) -> tuple[str, ...]:
        """The labels a detector announces, in model order."""
        return tuple(label for label in self.labels if is_keyword(label))

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **dataclasses.asdict(self)}, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        try:
            data = json.loads(text)
            if data.pop("format", None) != FORMAT:
                raise ModelFileError(
                    f"{source}: its gru_edge metadata is not {FORMAT}; "
                    f"re-export the model with this gru_edge version"
                )
            data["labels"] = tuple(data["labels"])
            data["features"] = FeatureConfig(**data["features"])
            data["detector"] = DetectorConfig(**data["detector"])
            data["states"] = tuple(
                StateTensor(s["input"], s["output"], tuple(s["shape"]), s["layer"])
                for s in data["states"]
            )
            return cls(**data)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(
                f"{source}: its gru_edge metadata is damaged ({e}); re-export the model"
            ) from None


def read_model(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the model ({e.strerror})") from None


def read_metadata(model: str | Path | bytes, source: str | None = None) -> ModelMetadata:
    """The gru_edge metadata of a .tflite file (path or bytes); refuses files without it."""
    if isinstance(model, bytes | bytearray):
        data, source = bytes(model), source or "model"
    else:
        data, source = read_model(model), source or str(model)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"{source}: not a TFLite model file")
    text = metadata_entries(data).get(METADATA_NAME)
    if text is None:
        raise ModelFileError(
            f"{source}: has no gru_edge metadata (labels, front end, states); "
            f"export it with `gru-edge export`"
        )
    return ModelMetadata.from_json(text.decode("utf-8"), source)


def metadata_entries(data: bytes) -> dict[str, bytes]:
    """All entries of a TFLite flatbuffer's metadata table, name -> bytes."""
    model = table.Table(
        bytearray(data), encode.Get(number_types.UOffsetTFlags.packer_type, data, 0)
    )
    buffers = _vector(model, _MODEL_BUFFERS)
    entries = {}
    for entry in _vector(model, _MODEL_METADATA):
        name_at = entry.Offset(4 + 2 * _METADATA_NAME)
        index_at = entry.Offset(4 + 2 * _METADATA_BUFFER)
        if not name_at or not index_at or not buffers:
            continue
        index = entry.Get(number_types.Uint32Flags, entry.Pos + index_at)
        if index < len(buffers):
            name = entry.String(entry.Pos + name_at).decode("utf-8")
            entries[name] = _buffer_bytes(buffers[index], data)
    return entries


def _vector(parent: table.Table, slot: int) -> list[table.Table]:
    at = parent.Offset(4 + 2 * slot)
    if not at:
        return []
    start = parent.Vector(at)
    return [
        table.Table(parent.Bytes, parent.Indirect(start + 4 * i))
        for i in range(parent.VectorLen(at))
    ]


def _buffer_bytes(buffer: table.Table, data: bytes) -> bytes:
    at = buffer.Offset(4 + 2 * _BUFFER_DATA)
    if at:
        start = buffer.Vector(at)
        return bytes(buffer.Bytes[start : start + buffer.VectorLen(at)])
    offset_at, size_at = (buffer.Offset(4 + 2 * s) for s in (_BUFFER_OFFSET, _BUFFER_SIZE))
    if offset_at and size_at:  # large models keep buffers after the flatbuffer
        offset = buffer.Get(number_types.Uint64Flags, buffer.Pos + offset_at)
        size = buffer.Get(number_types.Uint64Flags, buffer.Pos + size_at)
        return data[offset : offset + size]
    return b""
