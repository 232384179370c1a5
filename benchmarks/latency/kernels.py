"""A .tflite model split into the kernels its interpreter runs, each described by what its cost follows.

An op with weights (a convolution, a fully connected layer) costs a dispatch overhead, its multiply-accumulates,
the bytes it reads and writes (activations and weights) and the output positions it loops over; its
multiply-accumulates also count with the output channels rounded up to a 16-wide tile (`mmacs_c16`: a
convolution with 8 output channels runs a 16-lane GEMM or depthwise tile half empty and costs what 16 would,
measured: such convolutions were predicted 35-38% low without it). Any other op is memory-bound: it costs a
dispatch and the bytes it reads and writes, nothing else (no feature of its own to absorb another op's time).
A kernel's key is its op, the variant of it the runtime runs differently, and the dtype it computes in: an
int8 and a float32 convolution are different kernels, and so are a 1x1 and a 3x3 convolution (a GEMM and an
indirect convolution in XNNPACK).

Fusions are modelled, not counted twice: ReLU and ReLU6 are fused into the op before them in a .tflite (they
are no op of their own), and a PAD whose only reader is a convolution is folded into it by XNNPACK, so it is a
kernel of its own kind, `PAD.folded`, whose cost the fit finds (near nothing) apart from a PAD that copies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgedistill.export.inspect_tflite import OpTensors, op_tensors

FEATURES = ("dispatch", "mmacs", "in_kb", "out_kb", "weight_kb", "out_kpx", "mmacs_c16")
MEMORY_FEATURES = ("dispatch", "in_kb", "out_kb")  # all an op without weights is costed by
TILE = 16  # output channels a GEMM or depthwise tile computes at once (16 fp32 or int32 lanes in AVX-512)
# ops with weights: the first input is the activation, the others are constants
WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}
CONVOLUTIONS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
# a model's weights beyond what the caches keep between inferences are read from memory in every one: costed per
# MB beyond each of these sizes (they bracket the L2 and L3 caches of the CPUs targeted; the fit finds which matter)
WEIGHT_KNOTS_MB = (0.5, 2.0, 8.0)
MODEL_FEATURES = ("overhead", *(f"weights_over_{k:g}mb" for k in WEIGHT_KNOTS_MB))
# the variants (kernels the runtime runs differently from their op's others, int8 most of all):
# CONV_2D.1x1 a pointwise convolution (one GEMM); CONV_2D.kxk a larger kernel (an indirect GEMM); CONV_2D.stem a kxk
# convolution on at most 4 input channels (a network's first layer); DEPTHWISE_CONV_2D.multiplier a depthwise
# convolution that multiplies its channels (what a 1-channel input's first layer becomes); PAD.folded and
# PADV2.folded a pad whose only reader is a convolution, folded into it; TRANSPOSE.blocks a transpose that keeps
# the innermost axis in place, so it copies contiguous rows (a channel shuffle's), where others gather elements
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
    variant: str = ""  # see the variants above

    @property
    def key(self) -> str:
        return f"{self.op}{'.' + self.variant if self.variant else ''}/{self.dtype}"

    @property
    def out_positions(self) -> int:
        """Output positions: every dimension of the output but its last (channels)."""
        return math.prod(self.output_shape[:-1]) if len(self.output_shape) > 1 else 1

    @property
    def tiled_macs(self) -> int:
        """MACs with the output channels rounded up to TILE (0 for an op without weights)."""
        if self.op not in WEIGHTED or not self.output_shape or not self.output_shape[-1]:
            return 0
        channels = self.output_shape[-1]
        return self.macs * (-(-channels // TILE) * TILE) // channels

    def features(self) -> list[float]:
        """In the order of FEATURES, in units that keep a fit well conditioned (MMACs, KB, thousands); an op without
        weights has only the MEMORY_FEATURES, the others 0."""
        values = {
            "dispatch": 1.0,
            "mmacs": self.macs / 1e6,
            "in_kb": self.in_bytes / 1e3,
            "out_kb": self.out_bytes / 1e3,
            "weight_kb": self.weight_bytes / 1e3,
            "out_kpx": self.out_positions / 1e3,
            "mmacs_c16": self.tiled_macs / 1e6,
        }
        kept = FEATURES if self.op in WEIGHTED else MEMORY_FEATURES
        return [values[name] if name in kept else 0.0 for name in FEATURES]


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


def _variant(op: OpTensors, readers: dict[int, list[str]]) -> str:
    if op.op == "CONV_2D":
        _, kh, kw, cin = op.inputs[1][0]
        return "1x1" if kh == kw == 1 else "stem" if cin <= 4 else "kxk"
    if op.op == "DEPTHWISE_CONV_2D" and op.inputs[0][0][-1] != op.outputs[0][0][-1]:
        return "multiplier"
    if op.op == "TRANSPOSE" and op.permutation and op.permutation[-1] == len(op.permutation) - 1:
        return "blocks"
    if op.op in ("PAD", "PADV2") and op.output_ids:
        read_by = readers.get(op.output_ids[0], [])
        return "folded" if len(read_by) == 1 and read_by[0] in CONVOLUTIONS else ""
    return ""


def kernel_of(op: OpTensors, readers: dict[int, list[str]] | None = None) -> Kernel:
    """op as a kernel; readers (tensor index -> the ops that read it) tells a PAD a convolution folds."""
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
        variant=_variant(op, readers or {}),
    )


def model_features(kernels: list[Kernel]) -> list[float]:
    """In the order of MODEL_FEATURES: a call's overhead (1) and the MB of weights beyond each knot."""
    mb = sum(k.weight_bytes for k in kernels) / 1e6
    return [1.0, *(max(0.0, mb - knot) for knot in WEIGHT_KNOTS_MB)]


def model_kernels(path: Path) -> list[Kernel]:
    """The kernels of a .tflite model in graph order."""
    ops = op_tensors(path)
    readers: dict[int, list[str]] = {}
    for op in ops:
        for tensor in op.input_ids:
            readers.setdefault(tensor, []).append(op.op)
    return [kernel_of(op, readers) for op in ops]
