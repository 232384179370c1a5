"""Measure the shipped TFLite artifacts on the target device (when the user names one).

Not cached: a device measurement is an observation of that device now, not something derived
from the inputs, so every build that names a device measures again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgedistill.benchmarks.harness import run_benchmark, run_benchmark_model
from edgedistill.contracts import DeviceMeasurement, ExportResult, RunnerResult
from edgedistill.devices.connect import open_transport
from edgedistill.devices.profiles import DeviceProfile, get_device
from edgedistill.errors import ConfigError, EdgeDistillError
from edgedistill.pipeline.config import BenchmarkConfig
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.progress import Progress


@dataclass(frozen=True)
class DeviceSpec:
    """Where and how to measure: the --device string and what reaching it needs."""

    device: str
    ssh_config: Path | None = None
    python: str = "python3"
    benchmark_model: Path | None = None
    timeout: float = 600

    def check(self, target: DeviceProfile) -> None:
        """Refuse a bad device string or a missing benchmark_model before any work is done (no connection yet)."""
        open_transport(self.device, ssh_config=self.ssh_config, python=self.python).close()
        if target.runtime == "benchmark_model" and (self.benchmark_model is None or not self.benchmark_model.is_file()):
            raise EdgeDistillError(
                f"{target.name}: measuring on this device needs --benchmark-model PATH (TFLite's binary for it)"
            )


def resolve_target(target_name: str, device: DeviceSpec | None) -> DeviceProfile:
    """The --target profile, with the --device options checked against it: a bad name or option fails here,
    in one line, before anything is written."""
    try:
        target = get_device(target_name)
    except KeyError as exc:
        raise ConfigError(f"--target: {exc.args[0]}") from None
    if device is not None:
        device.check(target)
    return target


def measure_on_device(
    exported: StageOutput[ExportResult],
    spec: DeviceSpec,
    target: DeviceProfile,
    cfg: BenchmarkConfig,
    progress: Progress,
) -> DeviceMeasurement:
    formats = [fmt for fmt in exported.files if fmt.startswith("tflite")]
    results: dict[str, RunnerResult] = {}
    with (
        open_transport(spec.device, ssh_config=spec.ssh_config, python=spec.python) as transport,
        progress.task(f"benchmarking on {spec.device}", total=len(formats)) as advance,
    ):
        for fmt in formats:
            model = exported.path(fmt)
            if target.runtime == "benchmark_model":
                assert spec.benchmark_model is not None
                results[fmt] = run_benchmark_model(
                    transport,
                    model,
                    spec.benchmark_model,
                    threads=target.threads,
                    runs=cfg.runs,
                    warmup=cfg.warmup,
                    cpu_mask=target.cpu_mask,
                    timeout=spec.timeout,
                )
            else:
                results[fmt] = run_benchmark(
                    transport,
                    model,
                    threads=target.threads,
                    runs=cfg.runs,
                    warmup=cfg.warmup,
                    rounds=cfg.rounds,
                    timeout=spec.timeout,
                )
            advance(f"benchmarked {fmt} on {spec.device}")
    return DeviceMeasurement(
        device=spec.device, target=target.name, threads=target.threads, runtime=target.runtime, artifacts=results
    )
