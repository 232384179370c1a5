"""Run benchmarks/runner.py on a device through a transport and parse its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from edgedistill.devices.transport import Transport
from edgedistill.pipeline.errors import EdgeDistillError

RUNNER = Path(__file__).with_name("runner.py")


def run_benchmark(transport: Transport, model: Path, *, threads: int, runs: int, warmup: int, timeout: float = 600) -> dict:
    runner = transport.push(RUNNER, "edgedistill_runner.py")
    remote_model = transport.push(model, model.name)
    argv = [transport.python, runner, remote_model, "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
    result = transport.run(argv, timeout=timeout)
    if result.exit_code != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeDistillError(f"{model.name}: benchmark runner failed (exit {result.exit_code}): {last}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EdgeDistillError(f"{model.name}: benchmark runner printed no JSON result") from None
