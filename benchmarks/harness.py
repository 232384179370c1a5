"""Measure a model on a device through a transport: the Python runner, or TFLite's benchmark_model."""

from __future__ import annotations

from pathlib import Path

from edgedistill.benchmarks.parsers import parse_benchmark_model
from edgedistill.contracts import RunnerResult
from edgedistill.devices.transport import Transport
from edgedistill.errors import EdgeDistillError

RUNNER = Path(__file__).with_name("runner.py")


def median_ms(result: RunnerResult) -> float:
    """A measured model's p50 latency; one line naming the model when the measurement has none."""
    if result.latency_ms.p50 is None:
        raise EdgeDistillError(f"{result.model}: the benchmark reported no median latency ({result.runs} timed runs)")
    return result.latency_ms.p50


def run_benchmark(transport: Transport, model: Path, **options) -> RunnerResult:
    """Run benchmarks/runner.py on the device for one model (options as run_benchmarks); return its result (with
    outputs when input_npy is given)."""
    return run_benchmarks(transport, [model], **options)[0]


def run_benchmarks(
    transport: Transport,
    models: list[Path],
    *,
    threads: int,
    runs: int,
    warmup: int,
    rounds: int = 1,
    pause_ms: float = 0.0,
    input_npy: Path | None = None,
    interleave: bool = False,
    timeout: float = 600,
) -> list[RunnerResult]:
    """Several models measured in turn by one runner process on the device (latency; the peak memory reported
    is the process's, so measure a model alone for its memory); their results in order. interleave: all loaded
    first, each round timing every model in turn, so that a drift in the device's speed reaches them alike."""
    runner = transport.push_once(RUNNER, "edgedistill_runner.py")
    remote_models = [transport.push(model, model.name) for model in models]
    argv = [transport.python, runner, *remote_models, "--threads", str(threads), "--runs", str(runs)]
    argv += ["--warmup", str(warmup), "--rounds", str(rounds), "--pause-ms", str(pause_ms)]
    if input_npy is not None:
        argv += ["--input", transport.push(input_npy, "input.npy")]
    if interleave:
        argv.append("--interleave")
    result = transport.run(argv, timeout=timeout)
    name = models[0].name if len(models) == 1 else f"{len(models)} models"
    if result.exit_code == 127 or ("No such file or directory" in result.stderr and transport.python in result.stderr):
        raise EdgeDistillError(f"{name}: no {transport.python} on the device (use a benchmark_model runtime)")
    if result.exit_code != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeDistillError(f"{name}: benchmark runner failed on the device (exit {result.exit_code}): {last}")
    try:
        results = [
            RunnerResult.model_validate_json(line) for line in result.stdout.strip().splitlines()[-len(models) :]
        ]
    except ValueError:  # pydantic's ValidationError is one: not the runner's JSON
        results = []
    if len(results) != len(models):
        raise EdgeDistillError(f"{name}: benchmark runner printed no JSON result")
    return results


def run_benchmark_model(
    transport: Transport,
    model: Path,
    binary: Path,
    *,
    threads: int,
    runs: int,
    warmup: int,
    cpu_mask: str | None = None,
    timeout: float = 600,
) -> RunnerResult:
    """Run TFLite's native benchmark_model (phones have no Python) and parse what it prints."""
    if not binary.is_file():
        raise EdgeDistillError(f"{binary}: benchmark_model binary not found")
    remote_bin = transport.push_once(binary, "benchmark_model")
    remote_model = transport.push(model, model.name)
    transport.run(["chmod", "755", remote_bin], timeout=60)
    argv = [
        remote_bin,
        f"--graph={remote_model}",
        f"--num_threads={threads}",
        f"--warmup_runs={warmup}",
        f"--num_runs={runs}",
        "--use_xnnpack=true",
        "--report_peak_memory_footprint=true",
    ]
    if cpu_mask:
        argv = ["taskset", cpu_mask, *argv]
    result = transport.run(argv, timeout=timeout)
    if result.exit_code != 0:
        last = ((result.stderr + result.stdout).strip().splitlines() or ["no output"])[-1]
        raise EdgeDistillError(f"{model.name}: benchmark_model failed on the device (exit {result.exit_code}): {last}")
    try:
        parsed = parse_benchmark_model(
            result.stdout + "\n" + result.stderr, model=model.name, model_bytes=model.stat().st_size
        )
    except ValueError as exc:
        raise EdgeDistillError(f"{model.name}: {exc}") from None
    return RunnerResult.model_validate(parsed)
