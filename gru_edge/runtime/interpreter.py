"""The TFLite interpreter: ai_edge_litert, else tflite_runtime, the first that imports.

Never TensorFlow's `tf.lite`: a device does not have it, a desktop has ai-edge-litert (the
base install), and importing TensorFlow would cost seconds and hundreds of MB.
"""

from __future__ import annotations

import importlib
import logging
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

from gru_edge.errors import GruEdgeError
from gru_edge.modelfile import REMEDY, ModelFileError

logger = logging.getLogger(__name__)

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
    model: bytes,
    num_threads: int = 1,
    backend: str | None = None,
    kernels: str = "default",
    source: str = "model",
    advice: str = REMEDY,
):
    """An allocated interpreter for a model's bytes, and the name of its backend. A model the
    interpreter refuses is a ModelFileError naming `source`, ending with `advice`."""
    if kernels not in KERNELS:
        raise GruEdgeError(f"unknown kernels {kernels!r}; one of {list(KERNELS)}")
    name, module = interpreter_module(backend)
    resolver = getattr(module.OpResolverType, KERNELS[kernels])
    try:
        loaded = module.Interpreter(
            model_content=model, num_threads=num_threads, experimental_op_resolver_type=resolver
        )
        loaded.allocate_tensors()
        runner = loaded.get_signature_runner()  # what StreamingModel reads next
        runner.get_input_details(), runner.get_output_details()
    # The interpreters raise these for a model they cannot use, each for its own reasons.
    except (ValueError, RuntimeError, TypeError, KeyError, MemoryError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        raise ModelFileError(f"{source}: {name} cannot load it ({message}); {advice}") from None
    return loaded, name


def check_in_child_process(
    model: bytes, source: str, backend: str | None = None, kernels: str = "default"
) -> None:
    """Loads and invokes the model once in a child process, under a memory limit: refuses it
    (ModelFileError) when that crashes or fails.

    For files no checksum vouches for (see gru_edge.modelfile). Measured on random damage to
    the tiny test models (truncation, bit flips, garbage; 300 files of each kind per
    interpreter, 7500 more bit flips for ai-edge-litert): ai-edge-litert 2.3 runs the
    flatbuffers verifier and still crashed on 2 of the bit flips (SIGSEGV, and SIGABRT for a
    damaged quantization scale); tflite-runtime 2.14 verifies nothing and crashed on 17-71%
    of the files by kind, a few growing until the OOM killer stopped them (at 23 GB). The
    Python `flatbuffers` package has no verifier, and one for the TFLite schema written here
    would be a second interpreter to keep: a child process is the check that covers every
    kind of crash. What it cannot cover: tflite-runtime reads outside a file whose offsets
    are damaged, differently in each process, so about 1 in 150 randomly damaged files that
    loaded in the child crashed the process after it. It costs a Python start and an import
    of the interpreter (0.12 s on x86, more on a Pi) and is not cached: only files without a
    checksum pay it, and their warning says how to stop paying it (re-export).
    """
    name, _ = interpreter_module(backend)
    limit = CHILD_MEMORY + 8 * len(model)
    package = str(Path(__file__).resolve().parents[2])  # gru_edge, however this one was found
    path = os.pathsep.join(filter(None, [package, os.environ.get("PYTHONPATH")]))
    try:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, source, name, kernels, str(limit)],
            input=model,
            capture_output=True,
            timeout=CHILD_SECONDS,
            env={**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1"},  # no pool
        )
    except subprocess.TimeoutExpired:
        raise ModelFileError(
            f"{source}: {name} did not load it within {CHILD_SECONDS} s; {REMEDY}"
        ) from None
    except OSError as e:  # no Python can start here (user-mode emulation without binfmt)
        logger.warning("%s: not checked in a child process (%s): loaded unchecked", source, e)
        return
    if child.returncode < 0:
        signal_name = signal.Signals(-child.returncode).name
        raise ModelFileError(f"{source}: {name} crashed ({signal_name}) loading it; {REMEDY}")
    if child.returncode:
        lines = child.stderr.decode(errors="replace").strip().splitlines()
        raise ModelFileError(lines[-1] if lines else f"{source}: {name} failed on it; {REMEDY}")


# The child of `check_in_child_process`: the model on stdin; its name, the backend, the
# kernels and a memory limit (bytes of heap and other private writable memory: the address
# space would count the reservations of every thread) as arguments; the one-line error, if
# any, as the last line on stderr.
CHILD = """
import resource, sys
import numpy as np
from gru_edge.modelfile import REMEDY, ModelFileError
from gru_edge.runtime.interpreter import load_interpreter
source, backend, kernels, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
try:
    interpreter, _ = load_interpreter(sys.stdin.buffer.read(), 1, backend, kernels, source)
    runner = interpreter.get_signature_runner()
    runner(**{n: np.zeros(d["shape"], d["dtype"]) for n, d in runner.get_input_details().items()})
except ModelFileError as e:
    sys.exit(str(e))
except (RuntimeError, ValueError, TypeError, MemoryError) as e:
    sys.exit(f"{source}: {backend} cannot run it ({' '.join(str(e).split())}); {REMEDY}")
"""
CHILD_MEMORY = 512 << 20  # Python, numpy and an interpreter take ~90 MB of it on x86
CHILD_SECONDS = 120  # a Pi takes seconds to start Python and import an interpreter
