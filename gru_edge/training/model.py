"""The Keras GRU keyword spotter, and the forms of it that share its weights.

One body, three modes (as kws_streaming's `Modes`):

- `TRAINING`: waveforms in; the front end, normalization and SpecAugment run inside the model;
  logits of the last frame out (a clip's class is known once it has been heard), or of every
  frame for the stream recipe (`all_frames`).
- `SEQUENCE`: features of whole clips in, class probabilities for every frame out.
- `STREAMING`: one chunk of N frames plus the state of every stateful layer in (batch 1),
  probabilities for each frame plus the new states out; GRUs unrolled over the chunk with
  their input projections done once for it (gru_edge.training.streaming_gru) and builtin ops
  only, the form that becomes the TFLite model. States are inputs and outputs, never
  variables.
  (Streaming in Python on a desktop is the TFLite runtime's job: `gru_edge.runtime`.)

The stateful layers are an optional causal Conv1D (its state: the last kernel-1 input frames)
and one or two GRUs (cuDNN-compatible settings; state: the hidden vector). Streaming a clip
chunk by chunk with the states carried gives the per-frame probabilities of `SEQUENCE`.
"""

from __future__ import annotations

import dataclasses
import enum

import keras

from gru_edge.config import AugmentConfig, FeatureConfig, ModelConfig
from gru_edge.modelfile import StateTensor
from gru_edge.training.augment import SpecAugment
from gru_edge.training.frontend import LogMelFrontEnd
from gru_edge.training.streaming_gru import StreamingGRU


class Mode(enum.Enum):
    TRAINING = "training"
    SEQUENCE = "sequence"
    STREAMING = "streaming"


def state_specs(model: ModelConfig, features: FeatureConfig) -> list[StateTensor]:
    """The states of the streaming form, in order: the conv buffer (if any), then each GRU."""
    shapes = []
    if model.conv_filters:
        shapes.append(("conv", (1, model.conv_kernel - 1, features.num_mel_bins)))
    shapes += [(f"gru_{i}", (1, units)) for i, units in enumerate(model.gru_units)]
    return [
        StateTensor(f"state_in_{i}", f"state_out_{i}", shape, layer)
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
    all_frames: bool = False,
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
        return keras.Model(audio, x if all_frames else x[:, -1, :], name="gru_kws_training")
    if mode is Mode.SEQUENCE:
        inputs = keras.Input((None, bins), name="features")
        x = keras.layers.Normalization(axis=-1, name="normalization")(inputs)
        x = _body(x, num_classes, model)
        return keras.Model(
            inputs, keras.layers.Softmax(name="scores", dtype="float32")(x), name="gru_kws_sequence"
        )
    return _streaming_model(num_classes, features, model, chunk_frames)


def _body(x, num_classes: int, model: ModelConfig):
    if model.conv_filters:
        x = keras.layers.Conv1D(
            model.conv_filters, model.conv_kernel, activation="relu", padding="causal", name="conv"
        )(x)
    for i, units in enumerate(model.gru_units):
        x = keras.layers.GRU(units, return_sequences=True, name=f"gru_{i}")(x)
    return keras.layers.Dense(num_classes, name="head", dtype="float32")(x)


def _streaming_model(
    num_classes: int, features: FeatureConfig, model: ModelConfig, chunk_frames: int
) -> keras.Model:
    specs = state_specs(model, features)
    chunk = keras.Input(batch_shape=(1, chunk_frames, features.num_mel_bins), name="features")
    states_in = [keras.Input(batch_shape=s.shape, name=s.input) for s in specs]
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
        x, h = StreamingGRU(units, name=f"gru_{i}")([x, next(pending)])
        states_out.append(h)
    scores = keras.layers.Softmax(name="scores", dtype="float32")(
        keras.layers.Dense(num_classes, name="head", dtype="float32")(x)
    )
    outputs = {"scores": scores}
    outputs.update({s.output: out for s, out in zip(specs, states_out, strict=True)})
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
    (same layer names) and variable by variable (same variable names)."""
    target = build_model(num_classes, features, model, mode=mode, chunk_frames=chunk_frames)
    for layer in target.layers:
        if not layer.weights:
            continue
        source = {v.path.split("/")[-1]: v for v in trained.get_layer(layer.name).weights}
        for variable in layer.weights:
            name = variable.path.split("/")[-1]
            if name not in source:
                raise ValueError(f"trained layer {layer.name} has no variable {name}")
            variable.assign(source[name])
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # derives the constants it computes with from its variables
    return target
