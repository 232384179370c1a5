"""The shipped .tflite models' latency estimated from the target's calibration, for the models table of
every build (next to host and device measurements). Informative: a missing or mismatched calibration is
reported as the reason there is no estimate, never as a failed build."""

from __future__ import annotations

from pathlib import Path

from edgedistill.contracts import ExportResult, LatencyEstimate
from edgedistill.devices.profiles import DeviceProfile
from edgedistill.errors import EdgeDistillError
from edgedistill.pipeline.config import BenchmarkConfig
from edgedistill.pipeline.store.cache import StageOutput


def build_calibration(target: DeviceProfile, benchmark: BenchmarkConfig, calibration_path: Path | None):
    """The calibration a build estimates with (the given file, else the target's), checked against the threads
    the build's models run with: the benchmark's threads, else this host's benchmark threads for a
    calibration of this host, else the target's."""
    from edgedistill.benchmarks.latency.calibrate import calibration_for
    from edgedistill.pipeline.stages.benchmark import host_threads

    calibration, path = calibration_for(target.name, calibration_path, threads=None)
    threads = host_threads(benchmark, target) if calibration.reached_by == "local" else target.threads
    calibration.check(path, threads=benchmark.threads or threads)
    return calibration, path


def estimate_artifacts(
    exported: StageOutput[ExportResult],
    target: DeviceProfile,
    benchmark: BenchmarkConfig,
    calibration_path: Path | None,
) -> tuple[LatencyEstimate, dict[str, float]]:
    """(where the estimates come from, or why there are none; {tflite format: estimated ms})."""
    from edgedistill.benchmarks.latency.estimate import estimate

    try:
        calibration, path = build_calibration(target, benchmark, calibration_path)
    except EdgeDistillError as exc:
        return LatencyEstimate(skipped=str(exc)), {}
    source = LatencyEstimate(
        calibration=str(path), device=calibration.device, machine=calibration.machine, threads=calibration.threads
    )
    return source, {
        fmt: round(estimate(exported.path(fmt), calibration).total_ms, 4)
        for fmt in exported.files
        if fmt.startswith("tflite")
    }
