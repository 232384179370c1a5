"""Parse TFLite's native benchmark_model output into the runner's JSON schema."""

from __future__ import annotations

import re

from edgedistill.benchmarks.runner import SCHEMA_VERSION

_TIMINGS = re.compile(
    r"Inference timings in us: Init: (?P<init>[\d.]+), First inference: (?P<first>[\d.]+), "
    r"Warmup \(avg\): (?P<warm>[\d.e+]+), Inference \(avg\): (?P<avg>[\d.e+]+)"
)
_RUNS = re.compile(
    r"count=(?P<count>\d+)(?: first=\d+)? curr=\d+ min=(?P<min>\d+) max=(?P<max>\d+) avg=(?P<avg>[\d.e+]+) std=(?P<std>\d+)"
)
_PERCENTILES = re.compile(r"p5=\d+ median=(?P<p50>\d+) p95=(?P<p95>\d+)")
_MEMORY = re.compile(
    r"Memory footprint delta from the start of the tool \(MB\): init=(?P<init>[\d.]+) overall=(?P<overall>[\d.]+)"
)
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>[\d.]+)")
_THREADS = re.compile(r"#threads used for CPU inference: \[?(?P<n>\d+)\]?|Num threads: \[(?P<m>\d+)\]")


def parse_benchmark_model(text: str, *, model: str, model_bytes: int | None = None) -> dict:
    """The numbers benchmark_model prints, in the runner's schema (fields it does not print are None)."""
    timings = _TIMINGS.search(text)
    if timings is None:
        last = (text.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"benchmark_model printed no timings ({last})")
    runs = [m for m in _RUNS.finditer(text)]
    steady = runs[-1] if runs else None  # the last "count=" line is the timed (not warm-up) runs
    pct = _PERCENTILES.search(text)
    memory = _MEMORY.search(text)
    peak = _PEAK.search(text)
    threads = _THREADS.search(text)
    avg_ms = float(timings["avg"]) / 1e3
    return {
        "schema": SCHEMA_VERSION,
        "tool": "benchmark_model",
        "model": model,
        "model_bytes": model_bytes,
        "runtime": "tflite benchmark_model",
        "runtime_version": None,
        "threads": int(threads["n"] or threads["m"]) if threads else None,
        "xnnpack": "XNNPACK delegate" in text or "Created TensorFlow Lite XNNPACK delegate" in text,
        "init_ms": float(timings["init"]) / 1e3,
        "first_inference_ms": float(timings["first"]) / 1e3,
        "warmup_runs": int(runs[0]["count"]) if len(runs) > 1 else None,
        "warmup_mean_ms": float(timings["warm"]) / 1e3,
        "runs": int(steady["count"]) if steady else None,
        "rounds": 1,
        "round_medians_ms": [int(pct["p50"]) / 1e3] if pct else [],
        "latency_ms": {
            "min": int(steady["min"]) / 1e3 if steady else None,
            "p50": int(pct["p50"]) / 1e3 if pct else None,
            "p90": None,
            "p99": None,
            "mean": avg_ms,
            "std": int(steady["std"]) / 1e3 if steady else None,
        },
        "samples_ms": [],
        "peak_rss_kb": int(float(peak["peak"]) * 1024)
        if peak
        else (int(float(memory["overall"]) * 1024) if memory else None),
        "memory_footprint_mb": {"init": float(memory["init"]), "overall": float(memory["overall"])} if memory else None,
        "machine": None,
        "python": None,
    }
