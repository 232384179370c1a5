"""ONNX fp32 -> ONNX int8 in QDQ form (per-channel int8 weights, int8 activations) with onnxruntime.

Activation ranges come from calibration samples by one of three methods: MinMax (the observed range),
Percentile (clips the top 0.001% of values) or Entropy (the range that keeps the KL divergence of the
histogram smallest). Which wins depends on the model and data, so the export stage can try all and keep
the best on the validation split.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from edgedistill.export.native_logs import native_logs_to
from edgedistill.fsutil import atomic_path

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


class _Samples:
    """onnxruntime's CalibrationDataReader over NCHW float32 samples of batch 1 (duck-typed)."""

    def __init__(self, input_name: str, samples: Iterable[np.ndarray]) -> None:
        self.input_name = input_name
        self._it: Iterator[np.ndarray] = iter(samples)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}


def quantize_onnx(src: Path, dest: Path, samples: Iterable[np.ndarray], method: str, log: Path | None = None) -> None:
    """Write a QDQ int8 copy of the fp32 model `src`, calibrated on `samples` (NCHW, batch 1) by `method`."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, not {method!r}")
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(dir=Path(dest).parent) as tmp, native_logs_to(log):
        with open(log or "/dev/null", "a") as out, contextlib.redirect_stdout(out):
            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(src), str(prepared))  # shape inference and graph cleanup, as onnxruntime recommends
            with atomic_path(dest) as target:
                quantize_static(
                    str(prepared),
                    str(target),
                    _Samples(input_name, samples),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=methods[method],
                    extra_options={"CalibTensorRangeSymmetric": False},
                )
