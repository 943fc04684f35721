"""Measuring a shipped model the way it runs: through the TFLite runtime, never Keras."""
