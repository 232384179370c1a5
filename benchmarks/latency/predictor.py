"""A latency predictor per device, fitted to measured benchmark models, and the calibration file that keeps it.

A model's latency is predicted as the runtime's per-call overhead, plus the time to read the model's weights
that do not stay in the caches between inferences (per MB beyond each of WEIGHT_KNOTS_MB), plus the sum of its
kernels' predictions;
each kernel (op, variant and dtype) costs a non-negative combination of its features (kernels.py: a dispatch,
KB read and KB written for every op; MMACs, tiled MMACs, KB of weights and output positions for ops with
weights). Because the sum is linear in those coefficients, one non-negative least-squares
fit (scikit-learn's LinearRegression(positive=True)) over the measured models finds every kernel's
coefficients at once, however many ops each micro-benchmark holds (a strided int8 convolution comes with
its PAD). Samples are weighted by 1/latency^2, so the fit minimises relative error: a 0.05 ms kernel counts
as much as a 5 ms one. A linear cost also extrapolates to shapes outside the measured grid, which trees
cannot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from edgedistill.benchmarks.latency.kernels import FEATURES, MODEL_FEATURES, WEIGHT_KNOTS_MB, Kernel, model_features
from edgedistill.errors import EdgeDistillError
from edgedistill.fsutil import write_json

# /2: kernel variants, output positions, the held-out error; /3: tiled MACs, memory-bound ops costed by their bytes
FORMAT = "edgedistill-latency-calibration/3"
FORMAT_PREFIX = "edgedistill-latency-calibration/"
COVERAGE = 0.9  # the share of held-out models an estimate with its margin covers


class HeldOutError(BaseModel):
    """How far the fit's predictions were from measured latencies on models it was not fitted to."""

    model_config = ConfigDict(extra="forbid")
    source: str  # which models and how they were held out
    models: list[str]
    errors: list[float]  # predicted / measured - 1, per model

    @classmethod
    def of(cls, source: str, models: list[str], errors: list[float]) -> HeldOutError:
        return cls(source=source, models=models, errors=[round(float(e), 4) for e in errors])

    def summary(self) -> dict[str, float]:
        errors = np.asarray(self.errors)
        return {
            "median": round(float(np.median(errors)), 4),
            "p90_abs": round(float(np.percentile(np.abs(errors), 90)), 4),
            "worst": round(float(errors[np.argmax(np.abs(errors))]), 4),
        }

    def margin(self) -> float:
        """The headroom an estimate needs so that the measured latency is within it for at least COVERAGE of the
        held-out models: the smallest measured / predicted - 1 at or above that share of them (never below 0)."""
        under = 1.0 / (1.0 + np.asarray(self.errors)) - 1.0
        return max(0.0, round(float(np.quantile(under, COVERAGE, method="inverted_cdf")), 4))


class KernelFit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    coef_ms: list[float]  # per feature, in FEATURES order
    models: int  # micro-benchmarks that held this kernel


class Calibration(BaseModel):
    """What `edgedistill calibrate` writes: the fit and what it is valid for."""

    model_config = ConfigDict(extra="forbid")
    format: str = FORMAT
    device: str  # the profile or name it was measured as
    reached_by: str  # the --device it was measured through: 'local' (this host), an SSH destination, adb:SERIAL
    machine: str  # the device's own identity: platform machine and processor as the runner saw them
    runtime: str
    runtime_version: str
    threads: int
    date: str
    source: str  # how the numbers were obtained
    features: list[str]
    overhead_ms: float
    weight_knots_mb: list[float]
    weights_ms_per_mb: list[float]  # per MB of the model's weights beyond each knot
    kernels: dict[str, KernelFit]
    fit: dict[str, Any]  # quality on the benchmark models themselves
    held_out: HeldOutError | None = None  # quality on models it was not fitted to

    def predict_kernel(self, kernel: Kernel) -> tuple[float, str]:
        """(ms, how): the kernel's own fit, else the same op's other variant, else a memory-bound stand-in of the
        same dtype, named."""
        fit = self.kernels.get(kernel.key)
        how = "fitted"
        if fit is None:
            same_op = sorted(k for k in self.kernels if k.split("/")[0].split(".")[0] == kernel.op)
            same_op.sort(key=lambda k: not k.endswith(f"/{kernel.dtype}"))
            candidates = [*same_op, f"ADD/{kernel.dtype}", "ADD/int8", "ADD/float32"]
            candidates += sorted(self.kernels, key=lambda k: not k.endswith(f"/{kernel.dtype}"))  # any, at last
            stand_in = next((k for k in candidates if k in self.kernels), None)
            if stand_in is None:
                raise EdgeDistillError(f"calibration for {self.device} has no kernels to cost {kernel.key} with")
            fit, how = self.kernels[stand_in], f"not calibrated: costed as {stand_in}"
        return float(np.dot(fit.coef_ms, kernel.features())), how

    def weights_ms(self, kernels: Sequence[Kernel]) -> float:
        """The time to read the model's weights beyond the caches from memory."""
        return float(np.dot(self.weights_ms_per_mb, model_features(list(kernels))[1:]))

    def predict(self, kernels: Sequence[Kernel]) -> float:
        return self.overhead_ms + self.weights_ms(kernels) + sum(self.predict_kernel(k)[0] for k in kernels)

    def check(self, path: Path, threads: int | None = None, runtime_version: str | None = None) -> None:
        """One line when this calibration does not describe the runtime it would be used for."""
        if threads is not None and threads != self.threads:
            raise EdgeDistillError(
                f"{path}: calibrated with {self.threads} threads, not {threads} (run `edgedistill calibrate "
                f"--threads {threads}`)"
            )
        if runtime_version is not None and runtime_version != self.runtime_version:
            raise EdgeDistillError(
                f"{path}: calibrated on {self.runtime} {self.runtime_version}, not {runtime_version}: kernels "
                "change between runtime versions (run `edgedistill calibrate` again)"
            )


def _design(models: Sequence[Sequence[Kernel]], keys: list[str]) -> np.ndarray:
    """One row per model: each kernel key's features summed over the model's kernels of that key."""
    width = len(FEATURES)
    rows = np.zeros((len(models), len(keys) * width))
    column = {k: i * width for i, k in enumerate(keys)}
    for r, kernels in enumerate(models):
        for k in kernels:
            rows[r, column[k.key] : column[k.key] + width] += k.features()
    return rows


def fit_calibration(models: Sequence[Sequence[Kernel]], latency_ms: Sequence[float], **identity: Any) -> Calibration:
    """Fit the predictor to measured models (each a list of kernels, with its measured p50 latency)."""
    from sklearn.linear_model import LinearRegression

    if len(models) != len(latency_ms) or not models:
        raise ValueError("one latency per model, and at least one model")
    keys = sorted({k.key for kernels in models for k in kernels})
    # the per-call overhead is a column of ones rather than a free intercept, so that it too stays >= 0
    per_model = np.array([model_features(list(m)) for m in models])
    x = np.hstack([per_model, _design(models, keys)])
    y = np.asarray(latency_ms, dtype=float)
    regression = LinearRegression(positive=True, fit_intercept=False)
    regression.fit(x, y, sample_weight=1.0 / np.maximum(y, 1e-4) ** 2)
    width = len(MODEL_FEATURES)
    overhead, streaming, coef = float(regression.coef_[0]), regression.coef_[1:width], regression.coef_[width:]
    width = len(FEATURES)
    kernels = {
        key: KernelFit(
            coef_ms=[float(c) for c in coef[i * width : (i + 1) * width]],
            models=sum(any(k.key == key for k in kernels) for kernels in models),
        )
        for i, key in enumerate(keys)
    }
    calibration = Calibration(
        features=list(FEATURES),
        overhead_ms=overhead,
        weight_knots_mb=list(WEIGHT_KNOTS_MB),
        weights_ms_per_mb=[float(c) for c in streaming],
        kernels=kernels,
        fit={},
        date=identity.pop("date", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
        **identity,
    )
    errors = np.array([calibration.predict(m) / t - 1 for m, t in zip(models, y)])
    calibration.fit = {
        "models": len(models),
        "median_abs_error": round(float(np.median(np.abs(errors))), 4),
        "max_abs_error": round(float(np.abs(errors).max()), 4),
    }
    return calibration


def save_calibration(calibration: Calibration, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, calibration.model_dump(mode="json"))


def load_calibration(path: Path) -> Calibration:
    import json

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EdgeDistillError(f"{path}: calibration file not found") from None
    except ValueError as exc:
        raise EdgeDistillError(f"{path}: not a JSON calibration file ({exc})") from None
    found = data.get("format") if isinstance(data, dict) else None
    if isinstance(found, str) and found.startswith(FORMAT_PREFIX) and found != FORMAT:
        raise EdgeDistillError(
            f"{path}: a calibration in format {found!r}, from another edgedistill; this one reads {FORMAT!r} (run "
            "`edgedistill calibrate` again)"
        )
    if found != FORMAT:
        raise EdgeDistillError(f"{path}: not an edgedistill latency calibration (format {FORMAT!r} expected)")
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EdgeDistillError(f"{path}: {where}: {first['msg']}") from None
