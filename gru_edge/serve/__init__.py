"""The Wyoming wake-word service, `gru-edge serve`: Home Assistant's voice pipeline, or a
Wyoming satellite, streams audio in and gets keyword detections back.

`wake_words`: the model files loaded once, the wake words they offer, and one client's audio
through them; `service`: the protocol, through the `wyoming` package (the `serve` extra).
Like the rest of the device side, nothing here imports TensorFlow.
"""
