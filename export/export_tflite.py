#!/usr/bin/env python3
"""Exports a trained gru_edge run as streaming TFLite model(s): `gru-edge export`, as a script.

    python export/export_tflite.py RUN_DIR --out model.tflite --quant float32 int8

The work is done by gru_edge.training.export; this script only parses the arguments.
"""

import sys

from gru_edge.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
