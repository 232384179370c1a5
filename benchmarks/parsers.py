"""Parse TFLite's native benchmark_model output into the runner's JSON schema.

benchmark_model has printed several formats over the years; tests/benchmarks/transcripts/ holds real ones,
each with where it came from. What varies, and how it is read here:

- lines carry an `INFO: ` prefix (TF 2.18 and later) or none (TF 2.3 to 2.8; the runtime's own lines were
  prefixed even then), indented or not: the prefix is dropped before matching;
- the summary is `Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..`
  (TF 2.3 on), or `Average inference timings in us: Warmup: .., Init: .., Inference: ..` before that;
- a run's statistics are a line starting `count=`: `count=N first= curr= min= max= avg= std=`, or, when every
  value was the same, `count=N curr=X` (`(all same)` appended when N > 1); TF 2.19 on appends
  ` p5= median= p95=` to either. The warm-up runs' line comes before the timed runs' line (a trimmed
  transcript may keep only the latter); the op profiler's `Timings (microseconds): count=` lines are not runs;
- memory is `Peak memory footprint (MB): init= overall=` (TF 2.3/2.4), later renamed for what it is,
  `Memory footprint delta from the start of the tool (MB): init= overall=`: neither is a peak RSS. Only
  `--report_peak_memory_footprint` prints one: `Overall peak memory footprint (MB) via periodic monitoring: X`;
- threads are printed only for flags given: `Num threads: [N]` and `#threads used for CPU inference: [N]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgedistill.benchmarks.runner import SCHEMA_VERSION

_PREFIX = re.compile(r"^\s*(?:INFO: )?", re.MULTILINE)
_NUMBER = r"[\d.]+(?:e[+-]?\d+)?"
_TIMINGS = re.compile(
    rf"^Inference timings in us: Init: (?P<init>{_NUMBER}), First inference: (?P<first>{_NUMBER}), "
    rf"Warmup \(avg\): (?P<warm>{_NUMBER}), Inference \(avg\): (?P<avg>{_NUMBER})",
    re.MULTILINE,
)
_OLD_TIMINGS = re.compile(
    rf"^Average inference timings in us: Warmup: (?P<warm>{_NUMBER}), Init: (?P<init>{_NUMBER}), "
    rf"Inference: (?P<avg>{_NUMBER})",
    re.MULTILINE,
)
_RUNS = re.compile(
    rf"^count=(?P<count>\d+)(?: first=(?P<first>{_NUMBER}))? curr=(?P<curr>{_NUMBER})(?:\(all same\))?"
    rf"(?: min=(?P<min>{_NUMBER}) max=(?P<max>{_NUMBER}) avg=(?P<avg>{_NUMBER}) std=(?P<std>{_NUMBER}))?"
    rf"(?: p5=(?P<p5>{_NUMBER}) median=(?P<median>{_NUMBER}) p95=(?P<p95>{_NUMBER}))?\s*$",
    re.MULTILINE,
)
_MEMORY = re.compile(
    rf"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=(?P<init>{_NUMBER}) overall=(?P<overall>{_NUMBER})",
    re.MULTILINE,
)
_PEAK = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>{_NUMBER})", re.MULTILINE)
_THREADS = re.compile(r"^(?:#threads used for CPU inference|Num threads): \[?(?P<n>\d+)\]?", re.MULTILINE)


@dataclass(frozen=True)
class RunStats:
    """One `count=` line, in microseconds."""

    count: int
    min: float
    avg: float
    std: float
    median: float | None

    @classmethod
    def parse(cls, m: re.Match) -> RunStats:
        if m["min"] is None:  # every value the same: `count=N curr=X`
            curr = float(m["curr"])
            return cls(int(m["count"]), curr, curr, 0.0, float(m["median"]) if m["median"] else curr)
        median = float(m["median"]) if m["median"] else None
        return cls(int(m["count"]), float(m["min"]), float(m["avg"]), float(m["std"]), median)


def parse_benchmark_model(text: str, *, model: str, model_bytes: int | None = None) -> dict:
    """The numbers benchmark_model prints, in the runner's schema (fields it does not print are None)."""
    lines = _PREFIX.sub("", text)
    timings = _TIMINGS.search(lines) or _OLD_TIMINGS.search(lines)
    if timings is None:
        last = (text.strip().splitlines() or ["no output"])[-1].strip()
        raise ValueError(f"benchmark_model printed no timings ({last})")
    summary = timings.groupdict()
    runs = [RunStats.parse(m) for m in _RUNS.finditer(lines)]
    timed = runs[-1] if runs else None  # the timed runs' line comes last
    warmup = runs[-2] if len(runs) > 1 else None
    memory = _MEMORY.search(lines)
    peak = _PEAK.search(lines)
    threads = _THREADS.search(lines)
    median_ms = timed.median / 1e3 if timed is not None and timed.median is not None else None
    return {
        "schema": SCHEMA_VERSION,
        "tool": "benchmark_model",
        "model": model,
        "model_bytes": model_bytes,
        "runtime": "tflite benchmark_model",
        "runtime_version": None,
        "threads": int(threads["n"]) if threads else None,
        "xnnpack": "XNNPACK delegate" in text,
        "init_ms": float(summary["init"]) / 1e3,
        "first_inference_ms": float(summary["first"]) / 1e3 if summary.get("first") else None,
        "warmup_runs": warmup.count if warmup else None,
        "warmup_mean_ms": float(summary["warm"]) / 1e3,
        "runs": timed.count if timed else None,
        "rounds": 1,
        "round_medians_ms": [median_ms] if median_ms is not None else [],
        "latency_ms": {
            "min": timed.min / 1e3 if timed else None,
            "p50": median_ms,
            "p90": None,
            "p99": None,
            "mean": float(summary["avg"]) / 1e3,
            "std": timed.std / 1e3 if timed else None,
        },
        "samples_ms": [],
        "peak_rss_kb": int(float(peak["peak"]) * 1024) if peak else None,
        "memory_footprint_mb": {"init": float(memory["init"]), "overall": float(memory["overall"])} if memory else None,
        "machine": None,
        "python": None,
    }
