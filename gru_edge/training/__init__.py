"""The workstation side of gru_edge: TensorFlow and Keras, for training and export.

Nothing outside this package (and `gru_edge.evaluation`) may import it: the device never
loads TensorFlow.
"""
