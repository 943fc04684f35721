"""What travels inside a gru_edge .tflite file, how to read it without TensorFlow, and how
to know it is the file the export wrote.

The export writes a JSON document into the model's metadata (the flatbuffer's `metadata`
table, entry "gru_edge"): labels, front-end settings, chunk size, the names and shapes of the
tensors, quantization, detector defaults, where the file was checked to run, and a checksum.
One file is the whole deployment.

The checksum is a SHA-256 of every byte of the file with its own 64 hex digits written as
zeros: the weights, and also the quantization scales, the operators and the thresholds, since
a flipped bit in any of them is as silent as one in a weight. Writing the metadata (every
export step does it through `seal`) computes it again, so it always covers the file as last
written; any other change to the file makes it fail. Checking it costs one hash of the file at
load (well under a millisecond for the shipped models, see `read_metadata`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import struct
import typing
from dataclasses import dataclass
from pathlib import Path

from gru_edge.config import DetectorConfig, FeatureConfig
from gru_edge.errors import GruEdgeError

# CPython's own SHA-256, not hashlib's: hashlib loads OpenSSL's libcrypto, 3.4 MB resident (of
# the ~50 MB of `gru-edge stream`) for one checksum per model load. Same digest, 0.5 ms on a
# 150 KB file here (OpenSSL's: 0.08 ms).
try:
    from _sha2 import sha256  # Python 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:  # a Python built without them
        from hashlib import sha256

METADATA_NAME = "gru_edge"
FORMAT = "gru_edge.model/1"
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
CHECKSUM = "sha256:"
UNSEALED = CHECKSUM + "0" * 64  # the checksum as the metadata is serialized, before `seal`
_CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")
MAX_BYTES = 2**31  # a flatbuffer's offsets are 32-bit: no TFLite model is larger
# What the user can do about a damaged file, in every message that says so.
REMEDY = "download it again or re-export it"

# Field slots of the TFLite schema (schema.fbs): Model.buffers, Model.metadata,
# Metadata.name, Metadata.buffer, Buffer.data, Buffer.offset, Buffer.size.
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 0, 1, 2


class ModelFileError(GruEdgeError):
    """A model file that gru_edge cannot use: the message says why and what to do."""


def damaged(source: str, why: str) -> ModelFileError:
    return ModelFileError(f"{source}: the file is damaged ({why}); {REMEDY}")


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

    def __post_init__(self) -> None:
        if not self.shape or min(self.shape) < 1:
            raise ValueError(f"state {self.input} has shape {list(self.shape)}")


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
    # "sha256:" and the file's digest (see the module's docstring); "" in files exported
    # before gru_edge wrote checksums.
    checksum: str = ""

    def __post_init__(self) -> None:
        problems = [
            (
                not self.labels or len(set(self.labels)) < len(self.labels),
                "labels are empty or repeat",
            ),
            (self.chunk_frames < 1, f"chunk_frames is {self.chunk_frames}"),
            (self.quantization not in QUANTIZATIONS, f"quantization is {self.quantization!r}"),
            (
                any(not 0 < t <= 1 for t in self.thresholds.values()),
                "a threshold is outside (0, 1]",
            ),
            (
                self.checksum != "" and _CHECKSUM.fullmatch(self.checksum) is None,
                f"checksum {self.checksum[:20]!r} is not sha256:<64 hex digits>",
            ),
        ]
        for wrong, problem in problems:
            if wrong:
                raise ValueError(problem)

    @property
    def keywords(self) -> tuple[str, ...]:
        """The labels a detector announces, in model order."""
        return tuple(label for label in self.labels if is_keyword(label))

    def to_json(self) -> str:
        """Compact: the text travels inside every model file."""
        return json.dumps({"format": FORMAT, **dataclasses.asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "model") -> ModelMetadata:
        """Parses and checks every field (type and range): metadata that loads is metadata the
        runtime can use; anything else is one ModelFileError naming `source`."""
        try:
            data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
            if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
                raise ModelFileError(
                    f"{source}: its gru_edge metadata is not {FORMAT}; "
                    f"re-export the model with this gru_edge version"
                )
            return _typed(cls, data, "metadata")
        except ModelFileError:
            raise
        # RecursionError: JSON nested thousands deep; GruEdgeError: the ConfigErrors of the
        # front end's and the detector's own checks.
        except (TypeError, ValueError, RecursionError, GruEdgeError) as e:
            raise ModelFileError(
                f"{source}: its gru_edge metadata is damaged ({_one_line(e)}); {REMEDY}"
            ) from None


def _typed(expected, value, key: str):
    """The parsed JSON `value` as the annotated type `expected` (a dataclass, tuple[T, ...],
    dict[str, T], dict, str, int or float), or TypeError naming `key`."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if dataclasses.is_dataclass(expected):
        if not isinstance(value, dict):
            raise TypeError(f"{key} is not an object")
        hints = _hints(expected)
        unknown = sorted(set(value) - set(hints))
        if unknown:
            raise TypeError(f"{key} has unknown fields {unknown}")
        return expected(
            **{name: _typed(hints[name], v, f"{key}.{name}") for name, v in value.items()}
        )
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"{key} is not a list")
        return tuple(_typed(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if dict in (origin, expected):
        if not isinstance(value, dict):
            raise TypeError(f"{key} is not an object")
        return {k: _typed(args[1], v, f"{key}.{k}") for k, v in value.items()} if args else value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if expected is float and number:
        return float(value)
    if (expected is int and number and isinstance(value, int)) or (
        expected is str and isinstance(value, str)
    ):
        return value
    raise TypeError(f"{key} is not of type {expected.__name__}: {_one_line(repr(value))[:40]}")


@functools.cache
def _hints(dataclass_type: type) -> dict:
    return typing.get_type_hints(dataclass_type)  # slow: it evaluates the annotations


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def read_model(path: str | Path) -> bytes:
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():  # a FIFO or a device would be read forever
            raise ModelFileError(f"{path}: not a model file (a regular .tflite file)")
        if size > MAX_BYTES:
            raise ModelFileError(f"{path}: too large to be a TFLite model")
        return path.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read the model ({e.strerror})") from None


def read_metadata(model: str | Path | bytes, source: str | None = None) -> ModelMetadata:
    """The gru_edge metadata of a .tflite file (path or bytes), once its checksum matched;
    refuses files without metadata and damaged ones. Costs one parse of the metadata and one
    SHA-256 of the file: 0.56 ms for the shipped dynamic-range model on x86, 0.40 ms of it the
    hash (CPython's; the reader without checksum or checks took 0.09 ms)."""
    if isinstance(model, bytes | bytearray):
        data, source = bytes(model), source or "model"
    else:
        data, source = read_model(model), source or str(model)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(
            f"{source}: not a TFLite model file (it lacks the TFL3 mark); give a file from "
            f"`gru-edge export`, or if it was one, {REMEDY}"
        )
    span = _metadata_spans(data, source).get(METADATA_NAME)
    if span is None:
        raise ModelFileError(
            f"{source}: has no gru_edge metadata (labels, front end, states); "
            f"export it with `gru-edge export`"
        )
    metadata = ModelMetadata.from_json(data[span[0] : span[1]], source)
    if metadata.checksum and metadata.checksum != _checksum(data, span, metadata.checksum):
        raise damaged(source, "its contents do not match its checksum")
    return metadata


def metadata_entries(data: bytes) -> dict[str, bytes]:
    """All entries of a TFLite flatbuffer's metadata table, name -> bytes."""
    return {name: data[a:b] for name, (a, b) in _metadata_spans(data, "model").items()}


def seal(data: bytes) -> bytes:
    """The file with its checksum written: `data` is a model whose gru_edge metadata was
    serialized with `checksum=UNSEALED`."""
    span = _metadata_spans(data, "model")[METADATA_NAME]
    checksum = _checksum(data, span, UNSEALED)
    if not checksum:
        raise ValueError("the metadata holds no unsealed checksum, or more than one")
    at = data.index(UNSEALED.encode(), *span)
    return data[:at] + checksum.encode() + data[at + len(UNSEALED) :]


def _checksum(data: bytes, span: tuple[int, int], written: str) -> str:
    """SHA-256 of the file with the digest `written` in its metadata (at `span`) as zeros."""
    at = data.find(written.encode(), *span)
    if at < 0 or data.find(written.encode(), at + 1, span[1]) >= 0:
        return ""  # not exactly once where the metadata is: matches no checksum
    at += len(CHECKSUM)
    view = memoryview(data)
    digest = sha256(view[:at])
    digest.update(b"0" * 64)
    digest.update(view[at + 64 :])
    return CHECKSUM + digest.hexdigest()


class _Damaged(Exception):
    """A position in the flatbuffer that points outside it."""


class _Flatbuffer:
    """Bounds-checked reads of the few flatbuffer fields gru_edge needs.

    The `flatbuffers` package reads positions without checking them: a damaged offset raises
    struct.error, reads from the wrong end of the buffer, or announces a vector of four
    billion entries; and its Python runtime has no verifier (none in flatbuffers 25.12; the
    pull request that proposed one, google/flatbuffers#8023, was closed unmerged). So every
    position is checked here against the size of the file before it is read.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data

    def scalar(self, fmt: str, at: int) -> int:
        size = struct.calcsize(fmt)
        if not 0 <= at <= len(self.data) - size:
            raise _Damaged(f"an offset points outside the file ({at} of {len(self.data)} bytes)")
        return struct.unpack_from(fmt, self.data, at)[0]

    def indirect(self, at: int) -> int:
        return at + self.scalar("<I", at)

    def field(self, table: int, slot: int) -> int | None:
        """Where field `slot` of the table at `table` is, or None when it is absent."""
        vtable = table - self.scalar("<i", table)
        entry = 4 + 2 * slot
        if entry + 2 > self.scalar("<H", vtable):
            return None
        offset = self.scalar("<H", vtable + entry)
        return table + offset if offset else None

    def vector(self, at: int | None, item_size: int) -> tuple[int, int]:
        """(first item, count) of the vector referenced at `at`; (0, 0) when absent."""
        if at is None:
            return 0, 0
        start = self.indirect(at)
        count = self.scalar("<I", start)
        if count * item_size > len(self.data) - start - 4:
            raise _Damaged(f"a vector of {count} items does not fit in the file")
        return start + 4, count


def _metadata_spans(data: bytes, source: str) -> dict[str, tuple[int, int]]:
    """Each metadata entry's name -> where its bytes are in `data` (start, end)."""
    buffer = _Flatbuffer(data)
    try:
        model = buffer.indirect(0)
        buffers, buffer_count = buffer.vector(buffer.field(model, _MODEL_BUFFERS), 4)
        entries, entry_count = buffer.vector(buffer.field(model, _MODEL_METADATA), 4)
        spans = {}
        for i in range(entry_count):
            entry = buffer.indirect(entries + 4 * i)
            name_at = buffer.field(entry, _METADATA_NAME)
            index_at = buffer.field(entry, _METADATA_BUFFER)
            if name_at is None or index_at is None:
                continue
            index = buffer.scalar("<I", index_at)
            if index >= buffer_count:
                raise _Damaged(f"metadata names buffer {index} of {buffer_count}")
            start, length = buffer.vector(name_at, 1)
            name = data[start : start + length].decode("utf-8")
            spans[name] = _buffer_span(buffer, buffer.indirect(buffers + 4 * index))
        return spans
    except _Damaged as e:
        raise damaged(source, str(e)) from None
    except UnicodeDecodeError:
        raise damaged(source, "a metadata name is not UTF-8") from None


def _buffer_span(buffer: _Flatbuffer, table: int) -> tuple[int, int]:
    at = buffer.field(table, _BUFFER_DATA)
    if at is not None:
        start, length = buffer.vector(at, 1)
        return start, start + length
    offset_at, size_at = (buffer.field(table, s) for s in (_BUFFER_OFFSET, _BUFFER_SIZE))
    if offset_at is None or size_at is None:
        return 0, 0
    # Models over 2 GB keep their buffers after the flatbuffer, at absolute offsets.
    offset, size = buffer.scalar("<Q", offset_at), buffer.scalar("<Q", size_at)
    if offset + size > len(buffer.data):
        raise _Damaged("a buffer lies beyond the end of the file")
    return offset, offset + size
