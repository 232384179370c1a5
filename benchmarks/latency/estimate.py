"""A model's latency on a device, estimated from the device's calibration: one row per kernel and the total."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgedistill.benchmarks.latency.kernels import Kernel, model_kernels
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
    weights_ms: float  # reading the weights the caches do not keep
    weights_mb: float
    kernels: list[KernelEstimate]

    @property
    def uncalibrated(self) -> list[KernelEstimate]:
        """The kernels the calibration has no fit for (each costed by a stand-in, named in its `how`)."""
        return [k for k in self.kernels if k.how != "fitted"]

    @property
    def uncalibrated_share(self) -> float:
        """The share of the total that comes from kernels with no calibration of their own: how much of the
        estimate is a guess."""
        return sum(k.ms for k in self.uncalibrated) / self.total_ms if self.total_ms > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "estimate_ms": round(self.total_ms, 4),
            "overhead_ms": round(self.overhead_ms, 4),
            "weights_ms": round(self.weights_ms, 4),
            "weights_mb": round(self.weights_mb, 3),
            "uncalibrated_share": round(self.uncalibrated_share, 4),
            "uncalibrated_kernels": sorted({k.key for k in self.uncalibrated}),
            "kernels": [
                {**k.__dict__, "output_shape": list(k.output_shape), "ms": round(k.ms, 4)} for k in self.kernels
            ],
        }


def estimate(model: Path, calibration: Calibration) -> Estimate:
    return estimate_kernels(model.name, model_kernels(model), calibration)


def estimate_kernels(name: str, kernels: Sequence[Kernel], calibration: Calibration) -> Estimate:
    rows = []
    for kernel in kernels:
        ms, how = calibration.predict_kernel(kernel)
        rows.append(KernelEstimate(kernel.index, kernel.key, kernel.output_shape, kernel.macs / 1e6, ms, how))
    weights_ms = calibration.weights_ms(kernels)
    total = calibration.overhead_ms + weights_ms + sum(r.ms for r in rows)
    mb = sum(k.weight_bytes for k in kernels) / 1e6
    return Estimate(name, total, calibration.overhead_ms, weights_ms, mb, rows)
