"""The model and its twins: streaming chunk by chunk with the states carried equals the
full-sequence model, in every mode and shape."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gru_edge.config import FeatureConfig, ModelConfig
from gru_edge.features import log_mel
from gru_edge.training.model import Mode, build_model, convert, state_specs

FEATURES = FeatureConfig()
CLASSES = 5
SHAPES = {
    "conv+gru": ModelConfig(conv_filters=8, conv_kernel=3, gru_units=(16,)),
    "conv+2gru": ModelConfig(conv_filters=6, conv_kernel=5, gru_units=(12, 10)),
    "gru only": ModelConfig(conv_filters=0, gru_units=(16,)),
}


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, (3, 16000)).astype(np.float32)
    audio[:, 4000:8000] *= 5 * np.sin(np.linspace(0, 40, 4000))  # something to remember
    return audio, np.stack([log_mel(a) for a in audio])


def trained_like(model_config: ModelConfig, features: np.ndarray) -> keras.Model:
    """A training-mode model with random weights (biases too: Keras starts them at zero, where
    a twin adding one in the wrong place would still agree) and its normalization adapted."""
    keras.utils.set_random_seed(1)
    model = build_model(CLASSES, FEATURES, model_config)
    model.get_layer("normalization").adapt(features)
    rng = np.random.default_rng(1)
    for variable in model.weights:
        if variable.path.endswith("bias"):
            variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return model


def stream(
    model: keras.Model,
    frames: np.ndarray,
    model_config: ModelConfig,
    chunk: int,
    carry_state: bool = True,
) -> np.ndarray:
    step = tf.function(model)  # one trace, then each chunk costs microseconds, not milliseconds
    specs = state_specs(model_config, FEATURES)
    states = {s.input: np.zeros(s.shape, np.float32) for s in specs}
    scores = []
    for start in range(0, len(frames) - chunk + 1, chunk):
        out = step({"features": frames[None, start : start + chunk], **states})
        scores.append(out["scores"].numpy()[0])
        if carry_state:
            states = {s.input: out[s.output].numpy() for s in specs}
    return np.concatenate(scores)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("chunk", [1, 7])
def test_streaming_in_chunks_equals_the_full_sequence(clips, shape, chunk):
    model_config = SHAPES[shape]
    _, features = clips
    trained = trained_like(model_config, features)
    sequence = convert(trained, CLASSES, FEATURES, model_config, Mode.SEQUENCE)(features).numpy()
    streaming = convert(trained, CLASSES, FEATURES, model_config, Mode.STREAMING, chunk)
    for clip, expected in zip(features, sequence, strict=True):
        scores = stream(streaming, clip, model_config, chunk)
        assert np.abs(scores - expected[: len(scores)]).max() <= 1e-5


def test_forgetting_the_state_breaks_the_equality(clips):
    """The negative control: the equality above depends on carrying the state."""
    model_config = SHAPES["conv+gru"]
    _, features = clips
    trained = trained_like(model_config, features)
    sequence = convert(trained, CLASSES, FEATURES, model_config, Mode.SEQUENCE)(features).numpy()
    streaming = convert(trained, CLASSES, FEATURES, model_config, Mode.STREAMING, 7)
    scores = stream(streaming, features[0], model_config, 7, carry_state=False)
    assert np.abs(scores - sequence[0][: len(scores)]).max() > 1e-3


def test_the_training_model_classifies_by_its_last_frame(clips):
    model_config = SHAPES["conv+2gru"]
    audio, features = clips
    trained = trained_like(model_config, features)
    logits = trained(audio).numpy()
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sequence = convert(trained, CLASSES, FEATURES, model_config, Mode.SEQUENCE)(features).numpy()
    np.testing.assert_allclose(probabilities, sequence[:, -1], atol=1e-5)


def test_states_are_named_and_shaped_for_the_runtime():
    specs = state_specs(SHAPES["conv+2gru"], FEATURES)
    assert [(s.input, s.output, s.shape) for s in specs] == [
        ("state_in_0", "state_out_0", (1, 4, 40)),
        ("state_in_1", "state_out_1", (1, 12)),
        ("state_in_2", "state_out_2", (1, 10)),
    ]
    streaming = build_model(
        CLASSES, FEATURES, SHAPES["conv+2gru"], mode=Mode.STREAMING, chunk_frames=4
    )
    assert [i.name for i in streaming.inputs] == ["features", *(s.input for s in specs)]
    assert set(streaming.output) == {"scores", *(s.output for s in specs)}


def test_a_saved_model_loads_with_its_custom_layers(tmp_path, clips):
    audio, features = clips
    trained = trained_like(SHAPES["conv+gru"], features)
    trained.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded(audio).numpy(), trained(audio).numpy(), atol=1e-6)
