"""The streaming model on a device: audio in pieces of any size, one model shared by two
streams, the kernels, and bad samples; on the committed tiny models, base install only."""

from __future__ import annotations

import numpy as np
import pytest

from gru_edge.errors import AudioError, GruEdgeError
from gru_edge.runtime.stream import AudioStream, StreamingModel

pytestmark = pytest.mark.device


@pytest.mark.parametrize("quantization", ["float32", "int8"])
@pytest.mark.parametrize("piece", [1, 160, 512, 1600, 7001])
def test_pieces_of_any_size_give_the_same_scores(committed_models, yes_no, quantization, piece):
    audio = yes_no[0][12000:28000]  # a second, into "yes": one-sample pieces cost a call each
    whole = AudioStream(committed_models[quantization]).accept(audio)
    stream = AudioStream(committed_models[quantization])
    pieces = np.concatenate(
        [stream.accept(audio[i : i + piece]) for i in range(0, len(audio), piece)]
    )
    assert pieces.shape == whole.shape == (1 + (len(audio) - 400) // 160, 4)
    np.testing.assert_array_equal(pieces, whole)


def test_two_streams_can_share_one_model_through_their_state(committed_models, yes_no):
    audio, _ = yes_no
    alone = AudioStream(committed_models["float32"]).accept(audio)
    shared = AudioStream(committed_models["float32"])
    states = [shared.state, shared.state]
    outputs = [[], []]
    for start in range(0, len(audio), 1000):
        for k in (0, 1):
            shared.state = states[k]
            outputs[k].append(shared.accept(audio[start : start + 1000]))
            states[k] = shared.state
    for output in outputs:
        np.testing.assert_array_equal(np.concatenate(output), alone)


@pytest.mark.parametrize("quantization, tolerance", [("float32", 1e-5), ("int8", 0.1)])
def test_kernels_can_be_chosen_and_reference_kernels_agree(
    committed_models, yes_no, quantization, tolerance
):
    audio, _ = yes_no
    fast = StreamingModel(committed_models[quantization])
    if quantization == "int8" and fast.backend == "tflite_runtime":
        # Measured: its int8 reference kernels are up to 0.83 off the float model here, its
        # default kernels 0.05 (pi-check compares tflite-runtime on its default kernels).
        pytest.skip("tflite-runtime 2.14's int8 reference kernels are wrong on this model")
    reference = StreamingModel(committed_models[quantization], kernels="reference")
    difference = AudioStream(reference).accept(audio) - AudioStream(fast).accept(audio)
    assert np.abs(difference).max() <= tolerance
    with pytest.raises(GruEdgeError, match="unknown kernels 'fastest'"):
        StreamingModel(committed_models[quantization], kernels="fastest")


def test_bad_samples_are_refused_with_a_clear_message(committed_models):
    stream = AudioStream(committed_models["float32"])
    with pytest.raises(AudioError, match="NaN, infinite"):
        stream.accept(np.array([0.0, np.nan, 0.0], np.float32))
    with pytest.raises(AudioError, match="expected mono samples"):
        stream.accept(np.zeros((1600, 2), np.float32))
    assert stream.accept(np.zeros(0, np.float32)).shape == (0, 4)


@pytest.mark.reliability(
    area="runtime",
    fault="float64 samples beyond float32's range (1e200) fed to a stream",
    outcome="AudioError; the carried state stays finite, the stream goes on",
)
def test_samples_too_large_for_float32_never_poison_the_state(committed_models):
    stream = AudioStream(committed_models["float32"])
    with pytest.raises(AudioError, match="out-of-range"):
        stream.accept(np.full(1600, 1e200))
    assert np.isfinite(stream.accept(np.zeros(3200))).all()
    assert np.isfinite(stream.accept(np.full(3200, 3e38, np.float32))).all()
