"""gru_edge: a streaming GRU keyword spotter, trained with Keras, run with TFLite on a Pi.

Importing the package (and its device-side modules) never imports TensorFlow.
"""

__version__ = "0.1.0"
