"""The TFLite interpreter: ai_edge_litert, else tflite_runtime, the first that imports.

Never TensorFlow's `tf.lite`: a device does not have it, a desktop has ai-edge-litert (the
base install), and importing TensorFlow would cost seconds and hundreds of MB.
"""

from __future__ import annotations

import importlib
import os
import platform

from gru_edge.errors import GruEdgeError

BACKENDS = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
}
ENV_VAR = "GRU_EDGE_INTERPRETER"  # names one backend to use, e.g. for a comparison
# Which kernels run the model. "default": the optimized ones and the XNNPACK delegate (fastest;
# their int8 rounding differs between x86 and ARM by a few LSB). "builtin": optimized kernels
# without delegates. "reference": the slow reference kernels, bit-exact on every platform.
KERNELS = {
    "default": "AUTO",
    "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    "reference": "BUILTIN_REF",
}


class InterpreterMissing(GruEdgeError):
    """No TFLite interpreter can be imported."""


class UnknownInterpreter(GruEdgeError):
    """An interpreter was asked for by a name gru_edge does not know."""


def interpreter_module(backend: str | None = None):
    """The backend name and its interpreter module; `backend` (or $GRU_EDGE_INTERPRETER) picks
    one, otherwise the first that imports."""
    where = "asked for" if backend else f"named by ${ENV_VAR}"
    backend = backend or os.environ.get(ENV_VAR) or None
    if backend is not None and backend not in BACKENDS:
        raise UnknownInterpreter(
            f"unknown interpreter {backend!r} {where}; choose one of {list(BACKENDS)}"
        )
    problems = []
    for name in [backend] if backend else list(BACKENDS):
        try:
            return name, importlib.import_module(BACKENDS[name])
        except ImportError as e:
            problems.append(f"{name}: {e}")
    raise InterpreterMissing(
        f"no TFLite interpreter could be imported ({'; '.join(problems)}); {install_hint()}"
    )


def install_hint() -> str:
    machine = platform.machine()
    if machine in ("armv7l", "armv6l"):
        return (
            "on 32-bit ARM install tflite-runtime: pip install 'gru-edge[tflite-runtime]' "
            "(Python 3.11, numpy < 2)"
        )
    return "install ai-edge-litert: pip install ai-edge-litert"


def load_interpreter(
    model: bytes, num_threads: int = 1, backend: str | None = None, kernels: str = "default"
):
    """An allocated interpreter for a model's bytes, and the name of its backend."""
    if kernels not in KERNELS:
        raise GruEdgeError(f"unknown kernels {kernels!r}; one of {list(KERNELS)}")
    name, module = interpreter_module(backend)
    resolver = getattr(module.OpResolverType, KERNELS[kernels])
    try:
        loaded = module.Interpreter(
            model_content=model, num_threads=num_threads, experimental_op_resolver_type=resolver
        )
        loaded.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise GruEdgeError(f"{name} cannot load this model: {e}") from None
    return loaded, name
