"""The device side of gru_edge: numpy and a TFLite interpreter, never TensorFlow."""
