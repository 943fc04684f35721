"""Model files the tests make from good ones: as an export before checksums wrote them, and
damaged so that the interpreters crash on them. Base install only (the device tier uses it)."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

from gru_edge.modelfile import METADATA_NAME, metadata_entries
from gru_edge.runtime.interpreter import interpreter_module

CHECKSUM_MEMBER = re.compile(rb',\s*"checksum":\s*"sha256:[0-9a-f]{64}"')
# Loads a model file as a plain interpreter would, with none of gru_edge's checks.
BARE_LOAD = (
    "import sys; from gru_edge.runtime.interpreter import interpreter_module; "
    "interpreter = interpreter_module()[1].Interpreter(model_content=open(sys.argv[1], 'rb')"
    ".read()); interpreter.allocate_tensors()"
)


def python_starts() -> bool:
    """Whether a child Python can start: not under user-mode emulation without binfmt (the
    emulated Pi of tools/pi_check.py)."""
    try:
        return subprocess.run([sys.executable, "-c", ""]).returncode == 0
    except OSError:
        return False


def metadata_range(data: bytes) -> tuple[int, int]:
    """Where the gru_edge metadata's JSON is in the file."""
    text = metadata_entries(data)[METADATA_NAME]
    start = data.index(text)
    return start, start + len(text)


def without_checksum(data: bytes) -> bytes:
    """The file as an export before checksums wrote it: the checksum member of the metadata
    blanked to spaces (JSON whitespace), every other byte where it was."""
    found = CHECKSUM_MEMBER.search(data)
    assert found, "the file carries no checksum"
    return data[: found.start()] + b" " * (found.end() - found.start()) + data[found.end() :]


def huge_scale(data: bytes) -> bytes:
    """An int8 model with the quantization scale of one GRU gate's sum or product made 2**128
    times larger (one bit of its exponent set): ai-edge-litert 2.3 and tflite-runtime 2.14
    abort (SIGABRT) while allocating such a model."""
    interpreter = interpreter_module()[1].Interpreter(model_content=data)
    # The gates' sums and products, found by the operators that write them: exports name no
    # tensors (the interpreters' only public view of operators is this private method).
    gates = {
        tensor
        for op in interpreter._get_ops_details()
        if op["op_name"] in ("ADD", "MUL")
        for tensor in op["outputs"]
    }
    for tensor in interpreter.get_tensor_details():
        scales = tensor["quantization_parameters"]["scales"]
        packed = struct.pack("<f", scales[0]) if len(scales) == 1 else b""
        if tensor["index"] in gates and packed and data.count(packed) == 1:
            at = data.index(packed) + 3
            if packed[3] < 0x40:
                return data[:at] + bytes([packed[3] | 0x40]) + data[at + 1 :]
    raise AssertionError("the model has no GRU gate whose scale can be damaged")


def one_weight_changed(data: bytes) -> bytes:
    """The model with one byte in the middle of its largest constant tensor changed."""
    interpreter = interpreter_module()[1].Interpreter(model_content=data)
    interpreter.allocate_tensors()
    constants = []
    for tensor in interpreter.get_tensor_details():
        try:
            values = interpreter.get_tensor(tensor["index"]).tobytes()
        except ValueError:  # an intermediate tensor: not readable between invokes
            continue
        if len(values) >= 64 and data.count(values) == 1:
            constants.append(values)
    weights = max(constants, key=len)
    at = data.index(weights) + len(weights) // 2
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]
