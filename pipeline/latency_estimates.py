"""The shipped .tflite models' latency estimated from the target's calibration, for the models table of
every build (next to host and device measurements). Informative: a missing or mismatched calibration is
reported as the reason there is no estimate, never as a failed build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistill.devices.profiles import DeviceProfile
from edgedistill.errors import EdgeDistillError
from edgedistill.pipeline.store.cache import StageOutput


def estimate_artifacts(
    exported: StageOutput, target: DeviceProfile, threads: int, calibration_path: Path | None
) -> dict[str, Any]:
    """{'calibration', 'device', 'threads', 'artifacts': {fmt: ms}}, or {'skipped': why}."""
    from edgedistill.benchmarks.latency.calibrate import calibration_for
    from edgedistill.benchmarks.latency.estimate import estimate

    try:
        calibration, path = calibration_for(target.name, calibration_path, threads=None)
        expected = calibration.threads if calibration.reached_by == "local" else threads
        calibration.check(path, threads=expected)
    except EdgeDistillError as exc:
        return {"skipped": str(exc)}
    return {
        "calibration": str(path),
        "device": calibration.device,
        "machine": calibration.machine,
        "threads": calibration.threads,
        "artifacts": {
            fmt: round(estimate(exported.path(fmt), calibration).total_ms, 4)
            for fmt in exported.files
            if fmt.startswith("tflite")
        },
    }
