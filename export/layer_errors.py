"""Where an int8 .tflite loses accuracy: each layer's output compared with the fp32 .tflite, worst first.

Both models run the same samples with every intermediate tensor kept. A layer is matched across the
two by the PyTorch module that made it (the location names litert-torch writes) and its shape; the
int8 value is dequantized and compared with the fp32 one as SQNR (signal-to-quantization-noise ratio,
dB: higher is better, each 6 dB is about one bit) and cosine similarity. The error a layer shows
includes what earlier layers passed on, so the first layer in graph order where SQNR falls steeply is
where to look (a wide activation range, an outlier channel, a layer better left in float).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedistill.export.inspect_tflite import BOUNDARY_OPS, _interpreter, module_path
from edgedistill.export.runtimes import dequantize, quantize

MAX_SQNR_DB = 150.0  # no measurable error (float32 itself resolves about 140 dB)


@dataclass(frozen=True)
class LayerError:
    position: int  # the op's index in the int8 graph
    layer: str  # the PyTorch module path, or the tensor name where the graph does not say
    op: str
    shape: tuple[int, ...]
    sqnr_db: float
    cosine: float

    def to_dict(self) -> dict:
        return {**asdict(self), "shape": list(self.shape)}


def _outputs(interp) -> dict[tuple[str, tuple[int, ...]], tuple[int, str, int]]:
    """{(layer, shape): (op index, op name, output tensor index)}; the last op that writes a layer wins."""
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    found: dict[tuple[str, tuple[int, ...]], tuple[int, str, int]] = {}
    for op in interp._get_ops_details():
        if op["op_name"] in BOUNDARY_OPS or op["op_name"] == "DELEGATE":
            continue
        for i in op["outputs"]:
            if i >= 0 and i in tensors:
                t = tensors[i]
                found[(module_path(t["name"]), tuple(int(s) for s in t["shape"]))] = (
                    int(op["index"]),
                    op["op_name"],
                    i,
                )
    return found


def _feed(interp, x_nhwc: np.ndarray) -> None:
    detail = interp.get_input_details()[0]
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu":
        scale, zero_point = detail["quantization"]
        x_nhwc = quantize(x_nhwc, scale, zero_point, dtype)
    interp.set_tensor(detail["index"], x_nhwc.astype(dtype, copy=False))
    interp.invoke()


def _value(interp, index: int, quantization: dict[int, tuple[float, int]]) -> np.ndarray:
    t = interp.get_tensor(index)
    if np.dtype(t.dtype).kind in "iu":
        scale, zero_point = quantization[index]  # activations are quantized per tensor
        return dequantize(t, scale, zero_point)
    return t.astype(np.float32)


def layer_errors(fp32: Path, int8: Path, samples_nchw: Iterable[np.ndarray]) -> list[LayerError]:
    """Per-layer SQNR and cosine of `int8` against `fp32` over the samples (NCHW float, batch 1), worst SQNR first."""
    ref, quant = _interpreter(fp32, preserve_all_tensors=True), _interpreter(int8, preserve_all_tensors=True)
    ref_out, quant_out = _outputs(ref), _outputs(quant)
    shared = [key for key in quant_out if key in ref_out]
    qparams = {t["index"]: t["quantization"] for t in quant.get_tensor_details()}
    signal = dict.fromkeys(shared, 0.0)
    noise = dict.fromkeys(shared, 0.0)
    cosines: dict = {key: [] for key in shared}
    for x in samples_nchw:
        x_nhwc = np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 2, 3, 1))
        _feed(ref, x_nhwc)
        _feed(quant, x_nhwc)
        for key in shared:
            a = _value(ref, ref_out[key][2], qparams).ravel().astype(np.float64)
            b = _value(quant, quant_out[key][2], qparams).ravel().astype(np.float64)
            signal[key] += float(a @ a)
            noise[key] += float((a - b) @ (a - b))
            norms = float(np.linalg.norm(a) * np.linalg.norm(b))
            cosines[key].append(float(a @ b) / norms if norms > 0 else 1.0)
    result = []
    for key in shared:
        position, op, _ = quant_out[key]
        sqnr = (
            MAX_SQNR_DB if noise[key] == 0 else min(MAX_SQNR_DB, 10 * math.log10(max(signal[key], 1e-30) / noise[key]))
        )
        result.append(LayerError(position, key[0], op, key[1], round(sqnr, 2), round(float(np.mean(cosines[key])), 5)))
    return sorted(result, key=lambda e: (e.sqnr_db, e.position))
