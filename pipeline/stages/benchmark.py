"""benchmark: latency and peak memory of every artifact on this host, via the device runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.benchmarks.harness import run_benchmark
from edgedistill.contracts import ExportResult, HostBenchmark, RunnerResult
from edgedistill.devices.profiles import DeviceProfile
from edgedistill.devices.transport import LocalTransport
from edgedistill.fsutil import write_json
from edgedistill.pipeline.config import BenchmarkConfig
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.portable import machine
from edgedistill.progress import Progress

RESULT_FILE = "host_benchmark.json"


def host_threads(cfg: BenchmarkConfig, target: DeviceProfile) -> int:
    return cfg.threads or min(target.threads, os.cpu_count() or 1)


@register_stage
@dataclass
class HostBenchmarkStage(Stage[HostBenchmark]):
    name = "benchmark"
    version = 1
    output_type = HostBenchmark
    tools = ("ai-edge-litert", "onnxruntime")

    exported: StageOutput[ExportResult]  # from export
    cfg: BenchmarkConfig
    target: DeviceProfile
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "exported": self.exported.fingerprint(),
            "benchmark": self.cfg.model_dump(mode="json", exclude={"rounds"}),  # rounds are for device runs
            "threads": host_threads(self.cfg, self.target),
            "host": machine(),
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], HostBenchmark]:
        threads = host_threads(self.cfg, self.target)
        results: dict[str, RunnerResult] = {}
        with (
            LocalTransport() as transport,
            self.progress.task("benchmarking on the host", total=len(self.exported.files)) as advance,
        ):
            for fmt in self.exported.files:
                results[fmt] = run_benchmark(
                    transport, self.exported.path(fmt), threads=threads, runs=self.cfg.runs, warmup=self.cfg.warmup
                )
                advance(f"benchmarked {fmt}")
        result = HostBenchmark(device="host", machine=machine(), threads=threads, artifacts=results)
        write_json(workdir / RESULT_FILE, result.model_dump(mode="json"))
        return {"benchmark": RESULT_FILE}, result
