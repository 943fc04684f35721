"""Optional packages: import one, or say in one line which extra of gru_edge installs it.

The base install is what a device needs to listen (numpy and a TFLite interpreter); reading
other formats, resampling, the microphone, plots and training come with extras. Every place
that reaches for one of them goes through `require`, so the hint is written once.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from gru_edge.errors import GruEdgeError


class MissingPackage(GruEdgeError):
    """An optional package (or the system library it wraps) is not installed."""


def require(
    module: str,
    extra: str,
    purpose: str,
    advice: str = "",
    system_library: str | None = None,
) -> ModuleType:
    """Imports `module`, or raises `MissingPackage`: "`purpose` needs the optional package X:
    pip install 'gru-edge[extra]'" and `advice`. `system_library` names the Debian package of
    a native library the Python package loads (an `OSError` when it is absent)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = (e.name or module).split(".")[0]
        if missing == "gru_edge":  # our own module failed to import: a bug, keep its traceback
            raise
        raise MissingPackage(
            f"{purpose} needs the optional package {missing}: pip install 'gru-edge[{extra}]'"
            + advice
        ) from None
    except OSError as e:
        if system_library is None:
            raise
        raise MissingPackage(
            f"{purpose} needs the system library {system_library} ({e}): on Debian or "
            f"Raspberry Pi OS, sudo apt install {system_library}"
        ) from None
