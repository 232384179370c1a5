"""`edgedistill calibrate`: build the benchmark models (one op dominating each, and real layers), measure them on
a device through its transport with the runner that measures students, fit the predictor, sample more where its
error is largest, and save it with its held-out error as the device's calibration file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedistill.benchmarks.harness import run_benchmarks
from edgedistill.benchmarks.latency.kernels import Kernel, model_kernels
from edgedistill.benchmarks.latency.predictor import (
    Calibration,
    HeldOutError,
    fit_calibration,
    load_calibration,
    save_calibration,
)
from edgedistill.benchmarks.latency.suite import (
    FAMILIES,
    WEIGHTS,
    KernelSpec,
    build_suite,
    conversion_workers,
    draw_family,
    draw_suite,
)
from edgedistill.contracts import RunnerResult
from edgedistill.devices.transport import Transport
from edgedistill.errors import EdgeDistillError
from edgedistill.progress import Progress

# CPU seconds to convert one benchmark model on a 2-core x86_64 host (measured: 4.5 s per model with the
# converter's start-up shared out, int8 about twice float32), and runner seconds to load and warm one
CONVERSION_S = 4.5
LOAD_S = 0.05
CALLS = 4  # runner calls per measurement: each loads every model and times ROUNDS_PER_CALL interleaved rounds
ROUNDS_PER_CALL = 5
REFINE = 4  # (family, dtype) pairs with the largest fit error that get more samples


@dataclass(frozen=True)
class Measured:
    """Models measured together, interleaved: each one's median of its round medians (ms)."""

    paths: list[Path]
    latency_ms: list[float]
    identity: RunnerResult  # the first model's result: the device's machine, cpu, runtime and its version


def calibration_home() -> Path:
    """Where calibration files live by default: $XDG_CONFIG_HOME/edgedistill/devices (~/.config/...)."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "edgedistill" / "devices"


def default_calibration_path(device: str) -> Path:
    return calibration_home() / f"{device}.json"


def measure_interleaved(
    transport: Transport,
    paths: Sequence[Path],
    *,
    threads: int,
    runs: int,
    progress: Progress,
    label: str,
) -> Measured:
    """Every model timed in CALLS x ROUNDS_PER_CALL interleaved rounds (runs timed runs in all, at least 100 for
    a model under 0.5 ms): a device whose speed drifts slows them alike. Each model's latency is the median of
    its round medians."""
    per_round = max(1, -(-runs // (CALLS * ROUNDS_PER_CALL)))
    rounds: list[list[float]] = [[] for _ in paths]
    identity = None
    with progress.task(label, total=CALLS) as advance:
        for _ in range(CALLS):
            results = run_benchmarks(
                transport,
                list(paths),
                threads=threads,
                runs=per_round,
                warmup=2,
                rounds=ROUNDS_PER_CALL,
                interleave=True,
                timeout=3600,
            )
            for kept, result in zip(rounds, results):
                kept.extend(result.round_medians_ms)
            identity = identity or results[0]
            advance()
    fast = [i for i, r in enumerate(rounds) if np.median(r) < 0.5 and len(r) * per_round < 100]
    if fast:  # the protocol's 100+ runs for models under 0.5 ms
        more = -(-100 // (CALLS * ROUNDS_PER_CALL))
        results = run_benchmarks(
            transport,
            [paths[i] for i in fast],
            threads=threads,
            runs=more,
            warmup=2,
            rounds=CALLS * ROUNDS_PER_CALL,
            interleave=True,
            timeout=3600,
        )
        for i, result in zip(fast, results):
            rounds[i].extend(result.round_medians_ms)
    assert identity is not None  # CALLS >= 1
    return Measured(list(paths), [float(np.median(r)) for r in rounds], identity)


def planned_seconds(conversions: int, models: int, runs: int, sum_ms: float) -> float:
    """How long a calibration takes on this host: the conversions left, side by side on its cores, and the
    measurement (each model loaded CALLS times, then timed)."""
    convert = conversions * CONVERSION_S / conversion_workers()
    return convert + 2 * (models * CALLS * LOAD_S + runs * sum_ms / 1e3)


def _family_errors(specs: Sequence[KernelSpec], models: Sequence[list[Kernel]], measured, calibration) -> dict:
    errors: dict[tuple[str, str], list[float]] = {}
    for spec, kernels, ms in zip(specs, models, measured):
        if spec.family != "layers":
            errors.setdefault((spec.family, spec.dtype), []).append(abs(calibration.predict(kernels) / ms - 1))
    return {k: float(np.median(v)) for k, v in errors.items()}


def layers_cross_validation(
    specs: Sequence[KernelSpec], models: Sequence[list[Kernel]], measured: Sequence[float], folds: int = 10
) -> HeldOutError | None:
    """The error on real layers the fit did not see: the real-layer models (student prefixes and networks
    written in the suite) split into folds, each fold predicted by
    a fit on everything else."""
    layers = [i for i, s in enumerate(specs) if s.family == "layers"]
    if len(layers) < 2:
        return None
    errors: dict[int, float] = {}
    folds = min(folds, len(layers))
    for fold in range(folds):
        out = set(layers[fold::folds])
        keep = [i for i in range(len(specs)) if i not in out]
        fit = fit_calibration([models[i] for i in keep], [measured[i] for i in keep], **_ANONYMOUS)
        for i in out:
            errors[i] = fit.predict(models[i]) / measured[i] - 1
    order = sorted(errors)
    return HeldOutError.of(
        f"cross-validation: {len(order)} real-layer models in {folds} folds, each fold predicted by a fit without it",
        [specs[i].name for i in order],
        [errors[i] for i in order],
    )


_ANONYMOUS = dict(device="", reached_by="", machine="", runtime="", runtime_version="", threads=1, source="")


def calibrate(
    transport: Transport,
    device: str,
    reached_by: str,
    workdir: Path,
    progress: Progress,
    *,
    threads: int,
    per_family: int = 5,
    dtypes: tuple[str, ...] = ("int8", "float32"),
    families: Sequence[str] = FAMILIES,
    layers: int | None = None,
    refine: int = REFINE,
    runs: int = 60,
    seed: int = 0,
    held_out: Sequence[Path] = (),
    held_out_source: str = "",
    announce: Callable[[str], None] = lambda line: None,
    out: Path | None = None,
) -> tuple[Calibration, Path]:
    """Measure the benchmark models on the device (reached_by: how, e.g. 'local' or 'ssh pi@raspberrypi'), fit,
    sample more where the fit errs most, fit again, save; returns the calibration and where it was saved.
    held_out: models never fitted, measured alongside, whose errors the calibration keeps (else the error of a
    cross-validation over the real layers). refine: how many (family, dtype) pairs, those with the largest fit
    error, get per_family x the family's weight more models."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise EdgeDistillError(f"no benchmark family {', '.join(unknown)} (families: {', '.join(FAMILIES)})")
    rng = np.random.default_rng(seed + 1)  # the refining draws: not the suite's own again
    specs = [s for s in draw_suite(per_family, dtypes, seed, layers) if s.family in families or s.family == "layers"]
    folder = workdir / "kernels"
    todo = sum(not (folder / f"{s.name}.tflite").is_file() for s in specs) + refine * per_family * 2
    minutes = planned_seconds(todo, len(specs) + len(held_out), runs, 0.4 * (len(specs) + len(held_out))) / 60
    announce(
        f"calibrating {device}: {len(specs)} benchmark models ({todo} to convert here, {conversion_workers()} at "
        f"a time) and {len(held_out)} held-out models to measure: about {minutes:.0f} min"
    )
    with progress.task("building benchmark models", total=len(specs)) as advance:
        paths = build_suite(specs, folder, advance)
    models = [model_kernels(p) for p in paths]
    extra: list[KernelSpec] = []
    if refine:
        first = measure_interleaved(transport, paths, threads=threads, runs=runs, progress=progress, label="measuring")
        rough = fit_calibration(models, first.latency_ms, **_ANONYMOUS)
        worst = sorted(_family_errors(specs, models, first.latency_ms, rough).items(), key=lambda kv: -kv[1])
        for (name, dtype), _ in worst[:refine]:
            extra += [s for s in draw_family(name, per_family * WEIGHTS[name], dtype, rng) if s not in specs]
    with progress.task("sampling more where the fit errs most", total=len(extra)) as advance:
        paths_extra = build_suite(extra, folder, advance)
    specs, paths = specs + extra, paths + paths_extra
    models += [model_kernels(p) for p in paths_extra]
    final = measure_interleaved(
        transport, paths + list(held_out), threads=threads, runs=runs, progress=progress, label="measuring again"
    )
    latency, held_latency = final.latency_ms[: len(paths)], final.latency_ms[len(paths) :]
    result = final.identity
    calibration = fit_calibration(
        models,
        latency,
        device=device,
        reached_by=reached_by,
        machine=f"{result.machine}, {result.cpu or 'unknown cpu'}",
        runtime=result.runtime,
        runtime_version=result.runtime_version,
        threads=threads,
        source=f"measured by `edgedistill calibrate` over {reached_by}: {len(paths)} benchmark models "
        f"({sum(s.family == 'layers' for s in specs)} of them real layers), interleaved, median of "
        f"{CALLS * ROUNDS_PER_CALL} round medians each",
    )
    if held_out:
        calibration.held_out = HeldOutError.of(
            held_out_source or f"{len(held_out)} held-out models",
            [p.stem for p in held_out],
            [calibration.predict(model_kernels(p)) / ms - 1 for p, ms in zip(held_out, held_latency)],
        )
    else:
        calibration.held_out = layers_cross_validation(specs, models, latency)
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
