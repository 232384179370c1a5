"""A .tflite model split into the kernels its interpreter runs, each described by what its cost follows.

An op's cost on a CPU is a dispatch overhead, its multiply-accumulates and the bytes it reads and writes
(activations, and weights for convolutions and fully connected layers). Activation functions are fused into
the op before them in a .tflite, so they cost nothing of their own here. A kernel's key is its op and the
dtype it computes in: an int8 and a float32 convolution are different kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgedistill.export.inspect_tflite import OpTensors, op_tensors

FEATURES = ("dispatch", "mmacs", "in_kb", "out_kb", "weight_kb")
# ops with weights: the first input is the activation, the others are constants
WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4, "int64": 8}


@dataclass(frozen=True)
class Kernel:
    index: int
    op: str
    dtype: str  # what it computes in: the dtype of its first input
    output_shape: tuple[int, ...]
    macs: int
    in_bytes: int
    out_bytes: int
    weight_bytes: int

    @property
    def key(self) -> str:
        return f"{self.op}/{self.dtype}"

    def features(self) -> list[float]:
        """In the order of FEATURES, in units that keep a fit well conditioned (MMACs, KB)."""
        return [1.0, self.macs / 1e6, self.in_bytes / 1e3, self.out_bytes / 1e3, self.weight_bytes / 1e3]


def _bytes(tensors) -> int:
    return sum(math.prod(shape) * _BYTES.get(dtype, 4) for shape, dtype in tensors)


def _macs(op: OpTensors) -> int:
    out = math.prod(op.outputs[0][0]) if op.outputs else 0
    if op.op == "CONV_2D":  # weights (cout, kh, kw, cin)
        _, kh, kw, cin = op.inputs[1][0]
        return out * kh * kw * cin
    if op.op == "DEPTHWISE_CONV_2D":  # weights (1, kh, kw, channels * multiplier)
        _, kh, kw, _ = op.inputs[1][0]
        return out * kh * kw
    if op.op == "FULLY_CONNECTED":  # weights (units, inputs)
        return out * op.inputs[1][0][-1]
    return max(out, math.prod(op.inputs[0][0]) if op.inputs else 0)  # one operation per element


def kernel_of(op: OpTensors) -> Kernel:
    weighted = op.op in WEIGHTED
    activations = op.inputs[:1] if weighted else op.inputs
    return Kernel(
        index=op.index,
        op=op.op,
        dtype=op.inputs[0][1] if op.inputs else "float32",
        output_shape=op.outputs[0][0] if op.outputs else (),
        macs=_macs(op),
        in_bytes=_bytes(activations),
        out_bytes=_bytes(op.outputs),
        weight_bytes=_bytes(op.inputs[1:]) if weighted else 0,
    )


def model_kernels(path: Path) -> list[Kernel]:
    """The kernels of a .tflite model in graph order."""
    return [kernel_of(op) for op in op_tensors(path)]
