"""A model's latency on a device, estimated from the device's calibration: one row per kernel and the total."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgedistill.benchmarks.latency.kernels import model_kernels
from edgedistill.benchmarks.latency.predictor import Calibration


@dataclass(frozen=True)
class KernelEstimate:
    index: int
    key: str
    output_shape: tuple[int, ...]
    mmacs: float
    ms: float
    how: str  # "fitted", or which calibrated kernel stood in for an uncalibrated one


@dataclass(frozen=True)
class Estimate:
    model: str
    total_ms: float
    overhead_ms: float
    kernels: list[KernelEstimate]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "estimate_ms": round(self.total_ms, 4),
            "overhead_ms": round(self.overhead_ms, 4),
            "kernels": [
                {**k.__dict__, "output_shape": list(k.output_shape), "ms": round(k.ms, 4)} for k in self.kernels
            ],
        }


def estimate(model: Path, calibration: Calibration) -> Estimate:
    rows = []
    for kernel in model_kernels(model):
        ms, how = calibration.predict_kernel(kernel)
        rows.append(KernelEstimate(kernel.index, kernel.key, kernel.output_shape, kernel.macs / 1e6, ms, how))
    total = calibration.overhead_ms + sum(r.ms for r in rows)
    return Estimate(model.name, total, calibration.overhead_ms, rows)
