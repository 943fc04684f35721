"""A gru_edge model running on a stream: chunks in, scores out, GRU states carried.

Before the interpreter sees a file its checksum is checked (gru_edge.modelfile): a damaged
file is refused in one line, whatever the damage. A file exported before checksums still
loads, with a warning, once a child process has loaded it without crashing
(gru_edge.runtime.interpreter.check_in_child_process). Every tensor is bound by its
signature name (interpreters order inputs alphabetically and name outputs `output_0`...),
the metadata is checked against the tensors before anything runs, and int8 models are fed
and read through their own quantization parameters. The states of an int8 model are carried
as raw int8: the export gives each state's input and output the same scale, and this class
refuses a model where they differ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gru_edge.errors import AudioError
from gru_edge.features import FeatureExtractor
from gru_edge.modelfile import REMEDY, ModelFileError, ModelMetadata, read_metadata, read_model
from gru_edge.runtime.interpreter import check_in_child_process, load_interpreter

logger = logging.getLogger(__name__)
# Why a file whose checksum matched does not load: not damage, this interpreter.
VOUCHED = "the file is as exported (its checksum matches): this interpreter cannot run it"


class _Tensor:
    """One bound tensor: its index, shape, dtype and (for integer tensors) quantization."""

    def __init__(self, details: dict) -> None:
        self.index = details["index"]
        self.shape = tuple(int(d) for d in details["shape"])
        self.dtype = np.dtype(details["dtype"])
        scales = details["quantization_parameters"]["scales"]
        points = details["quantization_parameters"]["zero_points"]
        self.scale = float(scales[0]) if len(scales) else None
        self.zero_point = int(points[0]) if len(points) else 0
        if self.quantized:
            # float32 scalars: numpy converts a Python number on every call
            info = np.iinfo(self.dtype)
            self._range = (np.float32(info.min), np.float32(info.max))
            self._scale, self._zero = np.float32(self.scale), np.float32(self.zero_point)
            if self.dtype == np.int8:  # every value's float, looked up through its byte
                by_byte = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.float32)
                self._floats = ((by_byte - self.zero_point) * self.scale).astype(np.float32)

    @property
    def quantized(self) -> bool:
        return self.dtype.kind == "i" and self.scale is not None

    def quantize(self, values: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return values.astype(self.dtype, copy=False)
        # ufuncs in place: np.clip costs as much as the rest together
        q = np.divide(values, self._scale, dtype=np.float32)
        np.rint(q, out=q)
        q += self._zero
        np.maximum(q, self._range[0], out=q)
        return np.minimum(q, self._range[1], out=q).astype(self.dtype)

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return values.astype(np.float32, copy=False)
        if self.dtype == np.int8:
            return self._floats[values.view(np.uint8)]
        return ((values.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


class StreamingModel:
    """Runs feature frames through a gru_edge .tflite model, `chunk_frames` at a time.

    `process(frames)` accepts any number of frames and returns the scores (frames, labels) of
    the chunks it completed; frames of an unfinished chunk wait in `pending` for the next call.
    `reset()` starts a new stream; `states` reads or sets the carried states (for callers that
    interleave several streams on one model).
    """

    def __init__(
        self,
        model: str | Path | bytes,
        num_threads: int = 1,
        backend: str | None = None,
        kernels: str = "default",
    ) -> None:
        self.path = None if isinstance(model, bytes) else Path(model)
        source = "model" if isinstance(model, bytes) else str(model)
        data = model if isinstance(model, bytes) else read_model(model)
        self.metadata: ModelMetadata = read_metadata(data, source)  # checksum checked
        if self.metadata.checksum:
            advice = VOUCHED
        else:
            # An older export still works: refusing it would stop a device that ran fine
            # until the upgrade. But nothing says it is whole, and a damaged file can crash
            # the interpreter: it is tried in a child process first, and the user is told.
            logger.warning(
                "%s: carries no checksum (an export of gru_edge %s), so damage to it cannot "
                "be detected; re-export it to add one",
                source,
                self.metadata.gru_edge_version,
            )
            check_in_child_process(data, source, backend, kernels)
            advice = REMEDY
        self.interpreter, self.backend = load_interpreter(
            data, num_threads, backend, kernels, source, advice
        )
        runner = self.interpreter.get_signature_runner()
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        meta = self.metadata
        self._features = _bind(inputs, meta.feature_input, source, "input")
        self._scores = _bind(outputs, meta.scores_output, source, "output")
        self._states = [
            (_bind(inputs, s.input, source, "input"), _bind(outputs, s.output, source, "output"))
            for s in meta.states
        ]
        extra = set(inputs) - {meta.feature_input, *(s.input for s in meta.states)}
        if extra:
            raise ModelFileError(
                f"{source}: inputs {sorted(extra)} are not in its metadata; re-export it"
            )
        self._check_shapes(source)
        self._state_indices = [(i.index, o.index) for i, o in self._states]
        self.pending = np.zeros((0, meta.features.num_mel_bins), np.float32)
        self.reset()

    @property
    def chunk_frames(self) -> int:
        return self.metadata.chunk_frames

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    def _check_shapes(self, source: str) -> None:
        meta = self.metadata
        expected = [
            (self._features, (1, meta.chunk_frames, meta.features.num_mel_bins)),
            (self._scores, (1, meta.chunk_frames, len(meta.labels))),
        ]
        for spec, (state_in, state_out) in zip(meta.states, self._states, strict=True):
            expected += [(state_in, spec.shape), (state_out, spec.shape)]
            if (state_in.dtype, state_in.scale, state_in.zero_point) != (
                state_out.dtype,
                state_out.scale,
                state_out.zero_point,
            ):
                raise ModelFileError(
                    f"{source}: state {spec.input}/{spec.output} is not "
                    f"quantized alike on both ends; re-export the model"
                )
        for tensor, shape in expected:
            if tensor.shape != tuple(shape):
                raise ModelFileError(
                    f"{source}: a tensor has shape {list(tensor.shape)} where "
                    f"its metadata says {list(shape)}; the metadata does not "
                    f"belong to this model: re-export it"
                )

    def reset(self) -> None:
        """Zero states (in the quantized domain, zero is the zero point) and no pending frames."""
        self._carried = [
            state_in.quantize(np.zeros(state_in.shape, np.float32)) for state_in, _ in self._states
        ]
        self.pending = self.pending[:0]

    @property
    def states(self) -> list[np.ndarray]:
        return [state.copy() for state in self._carried]

    @states.setter
    def states(self, values: list[np.ndarray]) -> None:
        if len(values) != len(self._states) or any(
            np.shape(v) != s.shape for v, (s, _) in zip(values, self._states, strict=False)
        ):
            raise ValueError(f"expected states of shapes {[s.shape for s, _ in self._states]}")
        self._carried = [
            np.asarray(v, s.dtype).copy() for v, (s, _) in zip(values, self._states, strict=True)
        ]

    def process(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, np.float32)
        if len(self.pending):
            frames = np.concatenate((self.pending, frames))
        n = self.chunk_frames
        complete = len(frames) - len(frames) % n
        self.pending = frames[complete:].copy()  # not a view: the caller may reuse its array
        if not complete:
            return np.zeros((0, len(self.labels)), np.float32)
        # This runs all day on the device: quantization is done for all chunks at once, and
        # each invoke costs only the interpreter's own set/invoke/get calls.
        chunks = self._features.quantize(frames[:complete]).reshape(-1, 1, n, frames.shape[1])
        interpreter, carried = self.interpreter, self._carried
        set_tensor, get_tensor, invoke = (
            interpreter.set_tensor,
            interpreter.get_tensor,
            interpreter.invoke,
        )
        features, states, scores = self._features.index, self._state_indices, self._scores.index
        raw = []
        for chunk in chunks:
            set_tensor(features, chunk)
            for (state_in, _), value in zip(states, carried, strict=True):
                set_tensor(state_in, value)
            invoke()
            carried = [get_tensor(state_out) for _, state_out in states]
            raw.append(get_tensor(scores))
        self._carried = carried
        raw = raw[0] if len(raw) == 1 else np.concatenate(raw)
        return self._scores.dequantize(raw.reshape(-1, raw.shape[-1]))


def _bind(details: dict, name: str, source: str, kind: str) -> _Tensor:
    if name not in details:
        raise ModelFileError(
            f"{source}: its metadata names {kind} {name!r} but the model's "
            f"{kind}s are {sorted(details)}; the metadata does not belong to "
            f"this model: re-export it"
        )
    return _Tensor(details[name])


@dataclass(frozen=True)
class StreamState:
    """Everything a stream carries between calls: for running several streams on one model."""

    pending_samples: np.ndarray
    pending_frames: np.ndarray
    model_states: list[np.ndarray]


class AudioStream:
    """16 kHz mono audio in pieces of any size -> the model's scores for each completed frame.

    Runs the numpy front end with the settings the model carries, then the model in chunks of
    its N frames, carrying everything across calls: a signal fed in pieces of any size gives
    the scores it gives at once. Samples wait (in `features.pending`) until they complete a
    whole chunk, so that the front end and the model run once a chunk however small the
    pieces: a frame's scores come out with its chunk's last.
    """

    def __init__(self, model: StreamingModel | str | Path, num_threads: int = 1) -> None:
        self.model = (
            model
            if isinstance(model, StreamingModel)
            else StreamingModel(model, num_threads=num_threads)
        )
        self.features = FeatureExtractor(self.model.metadata.features)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    def accept(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.ndim != 1:
            raise AudioError(
                f"expected mono samples of shape (n,), got {samples.shape}; "
                f"down-mix first (gru_edge.audio.prepare_audio)"
            )
        # Audio is float32 from here on: a float64 sample beyond its range (1e200) would
        # overflow the front end into NaN, which the carried state would keep for ever.
        if samples.dtype != np.float32:
            with np.errstate(over="ignore"):
                samples = samples.astype(np.float32)
        if not np.isfinite(samples).all():
            raise AudioError("the audio holds NaN, infinite or out-of-range samples")
        # The front end waits until the model can run a whole chunk.
        model = self.model
        frames = self.features.accept(samples, model.chunk_frames - len(model.pending))
        return model.process(frames)

    def reset(self) -> None:
        self.features.reset()
        self.model.reset()

    @property
    def state(self) -> StreamState:
        return StreamState(
            self.features.pending.copy(), self.model.pending.copy(), self.model.states
        )

    @state.setter
    def state(self, state: StreamState) -> None:
        self.features.pending = state.pending_samples.copy()
        self.model.pending = state.pending_frames.copy()
        self.model.states = state.model_states
