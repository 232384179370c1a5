"""`edgedistill calibrate`: build the kernel micro-benchmarks, measure them on a device through its transport
with the runner that measures students, fit the predictor and save it as the device's calibration file."""

from __future__ import annotations

import os
from pathlib import Path

from edgedistill.benchmarks.harness import median_ms, run_benchmarks
from edgedistill.benchmarks.latency.kernels import model_kernels
from edgedistill.benchmarks.latency.predictor import Calibration, fit_calibration, load_calibration, save_calibration
from edgedistill.benchmarks.latency.suite import build_suite, draw_suite
from edgedistill.contracts import RunnerResult
from edgedistill.devices.transport import Transport
from edgedistill.errors import EdgeDistillError
from edgedistill.progress import Progress

BATCH = 16  # models per runner call: one process start and one push of the runner per batch


def calibration_home() -> Path:
    """Where calibration files live by default: $XDG_CONFIG_HOME/edgedistill/devices (~/.config/...)."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "edgedistill" / "devices"


def default_calibration_path(device: str) -> Path:
    return calibration_home() / f"{device}.json"


def calibrate(
    transport: Transport,
    device: str,
    reached_by: str,
    workdir: Path,
    progress: Progress,
    *,
    threads: int,
    per_family: int = 12,
    dtypes: tuple[str, ...] = ("int8", "float32"),
    runs: int = 30,
    warmup: int = 5,
    seed: int = 0,
    out: Path | None = None,
) -> tuple[Calibration, Path]:
    """Measure the suite on the device (reached_by: how, e.g. 'local' or 'ssh pi@raspberrypi'), fit, save;
    returns the calibration and where it was saved."""
    specs = draw_suite(per_family, dtypes, seed)
    with progress.task("building kernel micro-benchmarks", total=len(specs)) as advance:
        paths = build_suite(specs, workdir / "kernels", advance)
    results: list[RunnerResult] = []
    with progress.task(f"measuring kernels on {device}", total=len(paths)) as advance:
        for start in range(0, len(paths), BATCH):
            batch = paths[start : start + BATCH]
            results += run_benchmarks(transport, batch, threads=threads, runs=runs, warmup=warmup)
            advance(steps=len(batch))
    first = results[0]
    calibration = fit_calibration(
        [model_kernels(p) for p in paths],
        [median_ms(r) for r in results],
        device=device,
        reached_by=reached_by,
        machine=f"{first.machine}, {first.cpu or 'unknown cpu'}",
        runtime=first.runtime,
        runtime_version=first.runtime_version,
        threads=threads,
        source=f"measured by `edgedistill calibrate` over {reached_by}: {len(paths)} kernel "
        f"micro-benchmarks, p50 of {runs} runs each",
    )
    dest = out or default_calibration_path(device)
    save_calibration(calibration, dest)
    return calibration, dest


def calibration_for(target: str, path: Path | None, threads: int | None) -> tuple[Calibration, Path]:
    """The calibration to estimate with (the given file, else the target's own), checked against the threads
    the model will run with and, for a calibration of this host, this host's runtime version."""
    path = path or default_calibration_path(target)
    if not path.is_file() and path == default_calibration_path(target):
        raise EdgeDistillError(
            f"no latency calibration for {target} ({path}): none ships for it and none was measured; run "
            f"`edgedistill calibrate --device DEVICE --target {target}` on the board"
        )
    calibration = load_calibration(path)
    local_version = None
    if calibration.reached_by == "local":
        import ai_edge_litert

        local_version = getattr(ai_edge_litert, "__version__", None)
    calibration.check(path, threads=threads, runtime_version=local_version)
    return calibration, path
