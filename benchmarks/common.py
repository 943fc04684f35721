"""What every benchmark report states about where it ran, and how it is written."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

import gru_edge
from gru_edge.atomicfile import write_text


def environment() -> dict:
    return {
        "gru_edge": gru_edge.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def write_report(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(report, indent=2) + "\n")
