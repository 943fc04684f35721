"""The GRU of the streaming TFLite model: a Keras GRU's weights, laid out for a chunk of frames.

A Keras GRU unrolled over N frames becomes, per frame, an input and a recurrent
FULLY_CONNECTED with a bias each; in int8 every one of those biases is its own 384-value int32
tensor with 384 scales and zero points (6 KB a frame), so a 10-frame chunk doubles the file.
This layer computes the same function with the work that does not depend on the state done
once per chunk: one input projection for all N frames (its bias also carries the recurrent
biases of the update and reset gates, which are only ever added to it), and per frame a
recurrent projection without bias, the candidate's recurrent bias added to its third alone
(it sits inside the reset gate's product), and the update written `n + z * (h - n)` (one
operation fewer than `z * h + (1 - z) * n`). Its variables carry the Keras GRU's names and
shapes (`kernel`, `recurrent_kernel`, `bias`), so `gru_edge.training.model.convert` copies a
trained GRU into it unchanged.
"""

from __future__ import annotations

import keras
from keras import ops


class StreamingGRU(keras.layers.Layer):
    """`keras.layers.GRU(units, reset_after=True)` (sigmoid gates, tanh candidate) over one
    chunk: `(features (1, N, d), state (1, units))` -> `(outputs (1, N, units), state)`."""

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape) -> None:
        features_shape, _ = input_shape
        u = self.units
        self.kernel = self.add_weight((features_shape[-1], 3 * u), name="kernel")
        self.recurrent_kernel = self.add_weight((u, 3 * u), name="recurrent_kernel")
        self.bias = self.add_weight((2, 3 * u), name="bias", initializer="zeros")

    def call(self, inputs):
        features, h = inputs
        u = self.units
        input_bias, recurrent_bias = self.bias[0], self.bias[1]
        gate_bias = input_bias + ops.concatenate(
            [recurrent_bias[: 2 * u], ops.zeros((u,), recurrent_bias.dtype)]
        )
        projected = ops.matmul(features, self.kernel) + gate_bias  # (1, N, 3u), once a chunk
        gates_in = ops.unstack(projected[:, :, : 2 * u], axis=1)
        candidates_in = ops.unstack(projected[:, :, 2 * u :], axis=1)
        candidate_bias = recurrent_bias[2 * u :]
        outputs = []
        for gate_in, candidate_in in zip(gates_in, candidates_in, strict=True):
            recurrent = ops.matmul(h, self.recurrent_kernel)
            z, r = ops.split(ops.sigmoid(gate_in + recurrent[:, : 2 * u]), 2, axis=-1)
            n = ops.tanh(candidate_in + r * (recurrent[:, 2 * u :] + candidate_bias))
            h = n + z * (h - n)
            outputs.append(h)
        return ops.stack(outputs, axis=1), h

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}
