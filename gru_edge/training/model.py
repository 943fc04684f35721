"""The Keras GRU keyword spotter, and the forms of it that share its weights.

One body, four modes (as kws_streaming's `Modes`):

- `TRAINING`: waveforms in; the front end, normalization and SpecAugment run inside the model;
  logits of the last frame out (a clip's class is known once it has been heard).
- `SEQUENCE`: features of whole clips in, class probabilities for every frame out.
- `STREAMING`: one chunk of N frames plus the state of every stateful layer in (batch 1),
  probabilities for each frame plus the new states out; unrolled GRUs and builtin ops only,
  the form that becomes the TFLite model. States are inputs and outputs, never variables.
- `STATEFUL`: features in, the states kept inside the layers, for streaming in Python.

The stateful layers are an optional causal Conv1D (its state: the last kernel-1 input frames)
and one or two GRUs (cuDNN-compatible settings; state: the hidden vector). Streaming a clip
chunk by chunk with the states carried gives the per-frame probabilities of `SEQUENCE`.
"""

from __future__ import annotations

import dataclasses
import enum

import keras
import numpy as np

from gru_edge.config import AugmentConfig, FeatureConfig, ModelConfig
from gru_edge.training.augment import SpecAugment
from gru_edge.training.frontend import LogMelFrontEnd


class Mode(enum.Enum):
    TRAINING = "training"
    SEQUENCE = "sequence"
    STREAMING = "streaming"
    STATEFUL = "stateful"


@dataclasses.dataclass(frozen=True)
class StateSpec:
    """One state tensor of the streaming model: its input/output names and its shape."""

    input_name: str
    output_name: str
    shape: tuple[int, ...]
    layer: str


def state_specs(model: ModelConfig, features: FeatureConfig) -> list[StateSpec]:
    """The states of the streaming form, in order: the conv buffer (if any), then each GRU."""
    shapes = []
    if model.conv_filters:
        shapes.append(("conv", (1, model.conv_kernel - 1, features.num_mel_bins)))
    shapes += [(f"gru_{i}", (1, units)) for i, units in enumerate(model.gru_units)]
    return [
        StateSpec(f"state_in_{i}", f"state_out_{i}", shape, layer)
        for i, (layer, shape) in enumerate(shapes)
    ]


def build_model(
    num_classes: int,
    features: FeatureConfig,
    model: ModelConfig,
    augment: AugmentConfig | None = None,
    mode: Mode = Mode.TRAINING,
    chunk_frames: int = 1,
    seed: int | None = None,
) -> keras.Model:
    """A new model in `mode`; its weights are fresh (see `convert` to share trained ones)."""
    bins = features.num_mel_bins
    if mode is Mode.TRAINING:
        augment = augment or AugmentConfig()
        audio = keras.Input((None,), name="audio")
        x = LogMelFrontEnd(features=dataclasses.asdict(features), name="front_end")(audio)
        x = keras.layers.Normalization(axis=-1, name="normalization")(x)
        x = SpecAugment(
            augment.time_masks,
            augment.time_mask_frames,
            augment.freq_masks,
            augment.freq_mask_bins,
            seed=seed,
            name="spec_augment",
        )(x)
        x = _body(x, num_classes, model)
        return keras.Model(audio, x[:, -1, :], name="gru_kws_training")
    if mode is Mode.SEQUENCE:
        inputs = keras.Input((None, bins), name="features")
        x = keras.layers.Normalization(axis=-1, name="normalization")(inputs)
        x = _body(x, num_classes, model)
        return keras.Model(
            inputs, keras.layers.Softmax(name="scores", dtype="float32")(x), name="gru_kws_sequence"
        )
    if mode is Mode.STATEFUL:
        inputs = keras.Input(batch_shape=(1, None, bins), name="features")
        x = keras.layers.Normalization(axis=-1, name="normalization")(inputs)
        x = _body(x, num_classes, model, stateful=True)
        return keras.Model(
            inputs, keras.layers.Softmax(name="scores", dtype="float32")(x), name="gru_kws_stateful"
        )
    return _streaming_model(num_classes, features, model, chunk_frames)


def _body(x, num_classes: int, model: ModelConfig, stateful: bool = False):
    if model.conv_filters:
        conv = BufferedConv1D if stateful else keras.layers.Conv1D
        x = conv(
            model.conv_filters,
            model.conv_kernel,
            activation="relu",
            padding="valid" if stateful else "causal",  # BufferedConv1D keeps its own past
            name="conv",
        )(x)
    for i, units in enumerate(model.gru_units):
        x = keras.layers.GRU(units, return_sequences=True, stateful=stateful, name=f"gru_{i}")(x)
    return keras.layers.Dense(num_classes, name="head", dtype="float32")(x)


def _streaming_model(
    num_classes: int, features: FeatureConfig, model: ModelConfig, chunk_frames: int
) -> keras.Model:
    specs = state_specs(model, features)
    chunk = keras.Input(batch_shape=(1, chunk_frames, features.num_mel_bins), name="features")
    states_in = [keras.Input(batch_shape=s.shape, name=s.input_name) for s in specs]
    states_out = []
    x = keras.layers.Normalization(axis=-1, name="normalization")(chunk)
    pending = iter(states_in)
    if model.conv_filters:
        history = keras.layers.Concatenate(axis=1, name="conv_history")([next(pending), x])
        states_out.append(history[:, -(model.conv_kernel - 1) :, :])
        x = keras.layers.Conv1D(
            model.conv_filters, model.conv_kernel, activation="relu", padding="valid", name="conv"
        )(history)
    for i, units in enumerate(model.gru_units):
        gru = keras.layers.GRU(
            units, return_sequences=True, return_state=True, unroll=True, name=f"gru_{i}"
        )
        x, h = gru(x, initial_state=next(pending))
        states_out.append(h)
    scores = keras.layers.Softmax(name="scores", dtype="float32")(
        keras.layers.Dense(num_classes, name="head", dtype="float32")(x)
    )
    outputs = {"scores": scores}
    outputs.update({s.output_name: out for s, out in zip(specs, states_out, strict=True)})
    return keras.Model([chunk, *states_in], outputs, name="gru_kws_streaming")


def convert(
    trained: keras.Model,
    num_classes: int,
    features: FeatureConfig,
    model: ModelConfig,
    mode: Mode,
    chunk_frames: int = 1,
) -> keras.Model:
    """The `mode` form of a trained model, holding the same weights: copied layer by layer
    (same layer names) and variable by variable (same variable names); a variable only the
    target has is a state buffer and keeps its zeros."""
    target = build_model(num_classes, features, model, mode=mode, chunk_frames=chunk_frames)
    for layer in target.layers:
        if not layer.weights:
            continue
        source = {v.path.split("/")[-1]: v for v in trained.get_layer(layer.name).weights}
        for variable in layer.weights:
            name = variable.path.split("/")[-1]
            if name in source:
                variable.assign(source[name])
            elif variable.trainable:
                raise ValueError(f"trained layer {layer.name} has no variable {name}")
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # derives the constants it computes with from its variables
    return target


def reset_states(stateful: keras.Model) -> None:
    """Starts a new stream in a `STATEFUL` model."""
    for layer in stateful.layers:
        if isinstance(layer, keras.layers.GRU | BufferedConv1D):
            layer.reset_state()


def zero_states(model: ModelConfig, features: FeatureConfig) -> dict[str, np.ndarray]:
    """The states at the start of a stream, keyed by input name."""
    return {s.input_name: np.zeros(s.shape, np.float32) for s in state_specs(model, features)}


@keras.saving.register_keras_serializable(package="gru_edge")
class BufferedConv1D(keras.layers.Conv1D):
    """A causal Conv1D for the `STATEFUL` mode: keeps the last kernel-1 input frames in a
    variable and prepends them to the next chunk (zeros at the start, like causal padding)."""

    def build(self, input_shape):
        super().build((input_shape[0], None, input_shape[-1]))
        self.buffer = self.add_weight(
            shape=(input_shape[0], self.kernel_size[0] - 1, input_shape[-1]),
            initializer="zeros",
            trainable=False,
            name="buffer",
        )

    def call(self, inputs):
        history = keras.ops.concatenate([keras.ops.cast(self.buffer, inputs.dtype), inputs], 1)
        self.buffer.assign(history[:, history.shape[1] - self.buffer.shape[1] :, :])
        return super().call(history)

    def reset_state(self) -> None:
        self.buffer.assign(keras.ops.zeros_like(self.buffer))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)
