"""Measure a model on a device through a transport: the Python runner, or TFLite's benchmark_model."""

from __future__ import annotations

import json
from pathlib import Path

from edgedistill.benchmarks.parsers import parse_benchmark_model
from edgedistill.devices.transport import Transport
from edgedistill.errors import EdgeDistillError

RUNNER = Path(__file__).with_name("runner.py")


def run_benchmark(
    transport: Transport,
    model: Path,
    *,
    threads: int,
    runs: int,
    warmup: int,
    rounds: int = 1,
    pause_ms: float = 0.0,
    input_npy: Path | None = None,
    timeout: float = 600,
) -> dict:
    """Run benchmarks/runner.py on the device; return its JSON (with outputs when input_npy is given)."""
    runner = transport.push_once(RUNNER, "edgedistill_runner.py")
    remote_model = transport.push(model, model.name)
    argv = [
        transport.python,
        runner,
        remote_model,
        "--threads",
        str(threads),
        "--runs",
        str(runs),
        "--warmup",
        str(warmup),
    ]
    argv += ["--rounds", str(rounds), "--pause-ms", str(pause_ms)]
    if input_npy is not None:
        argv += ["--input", transport.push(input_npy, "input.npy")]
    result = transport.run(argv, timeout=timeout)
    if result.exit_code == 127 or ("No such file or directory" in result.stderr and transport.python in result.stderr):
        raise EdgeDistillError(f"{model.name}: no {transport.python} on the device (use a benchmark_model runtime)")
    if result.exit_code != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeDistillError(f"{model.name}: benchmark runner failed on the device (exit {result.exit_code}): {last}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EdgeDistillError(f"{model.name}: benchmark runner printed no JSON result") from None


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
) -> dict:
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
        return parse_benchmark_model(
            result.stdout + "\n" + result.stderr, model=model.name, model_bytes=model.stat().st_size
        )
    except ValueError as exc:
        raise EdgeDistillError(f"{model.name}: {exc}") from None
