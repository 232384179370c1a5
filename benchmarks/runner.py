#!/usr/bin/env python3
"""Measure one model's latency and memory: the same file runs on the host and on a device.

Self-contained on purpose: it needs only the standard library, numpy and one of ai_edge_litert,
tflite_runtime or tensorflow.lite for a .tflite (onnxruntime for an .onnx). It prints one JSON
object on stdout:

    python3 runner.py model.tflite --threads 4 --runs 100 --warmup 10

Several models in one call (one process: latency only, since the peak memory is then the process's) print
one JSON object per line, in order.

Reported: load/init time, first inference, warm-up mean, N timed runs (min, p50, p90, p99, mean,
std), peak resident memory (VmHWM; ru_maxrss or the peak working set where /proc is missing), threads,
whether XNNPACK was applied, runtime and version.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

try:
    import numpy as np
except ImportError:
    raise SystemExit(
        "runner: numpy is missing on the device (pip install numpy, or apt install python3-numpy)"
    ) from None

SCHEMA_VERSION = 1


def summarize(samples_ms: list[float]) -> dict[str, float]:
    """min / p50 / p90 / p99 / mean / std of latency samples in milliseconds (linear-interpolated percentiles)."""
    if not samples_ms:
        raise ValueError("no samples")
    ordered = sorted(samples_ms)

    def percentile(q: float) -> float:
        pos = (len(ordered) - 1) * q / 100.0
        lo, hi = math.floor(pos), math.ceil(pos)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    mean = sum(ordered) / len(ordered)
    var = sum((s - mean) ** 2 for s in ordered) / len(ordered)
    return {
        "min": ordered[0],
        "p50": percentile(50),
        "p90": percentile(90),
        "p99": percentile(99),
        "mean": mean,
        "std": math.sqrt(var),
    }


def peak_rss_kb(system: str | None = None, proc_status: str = "/proc/self/status") -> int | None:
    """Peak resident set size of this process, in KiB: VmHWM where /proc has it (Linux, Android), else
    getrusage's ru_maxrss, which macOS gives in bytes and the other Unix systems in KiB, else (Windows) the
    process's peak working set. system: as sys.platform spells it (default: this one)."""
    system = system or sys.platform
    try:
        with open(proc_status) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    if system == "win32":
        return _windows_peak_working_set_kb()
    try:
        import resource

        peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except Exception:
        return None
    return peak // 1024 if system == "darwin" else peak


def _windows_peak_working_set_kb() -> int | None:
    """PeakWorkingSetSize from GetProcessMemoryInfo (psapi), in KiB."""
    try:
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):  # PROCESS_MEMORY_COUNTERS
            _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
                (name, ctypes.c_size_t)
                for name in (
                    "PeakWorkingSetSize",
                    "WorkingSetSize",
                    "QuotaPeakPagedPoolUsage",
                    "QuotaPagedPoolUsage",
                    "QuotaPeakNonPagedPoolUsage",
                    "QuotaNonPagedPoolUsage",
                    "PagefileUsage",
                    "PeakPagefileUsage",
                )
            ]

        counters = Counters()
        counters.cb = ctypes.sizeof(counters)
        windll = ctypes.windll  # type: ignore[attr-defined]
        if not windll.psapi.GetProcessMemoryInfo(
            windll.kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb
        ):
            return None
        return int(counters.PeakWorkingSetSize) // 1024
    except Exception:
        return None


def cpu_model() -> str:
    """What the CPU (or the board) calls itself: /proc/cpuinfo's model name, or the board's Model line."""
    found = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                found.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return found.get("model name") or found.get("Model") or found.get("Hardware") or platform.processor() or "unknown"


def _tflite_interpreter_class():
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter as mod

        return mod.Interpreter, "ai_edge_litert", getattr(ai_edge_litert, "__version__", "unknown")
    except ImportError:
        pass
    try:
        import tflite_runtime
        from tflite_runtime import interpreter as mod

        return mod.Interpreter, "tflite_runtime", getattr(tflite_runtime, "__version__", "unknown")
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, "tensorflow", tf.__version__
    except ImportError:
        raise SystemExit(
            "runner: no TFLite runtime found (install ai-edge-litert, tflite-runtime or tensorflow)"
        ) from None


class _TFLite:
    def __init__(self, path: str, threads: int) -> None:
        cls, self.runtime, self.version = _tflite_interpreter_class()
        self.interp = cls(model_path=path, num_threads=threads)
        self.interp.allocate_tensors()
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()
        try:
            self.xnnpack = any(op["op_name"] == "DELEGATE" for op in self.interp._get_ops_details())
        except Exception:
            self.xnnpack = None

    def input_specs(self):
        return [(d["index"], tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"])) for d in self.inputs]

    def set_inputs(self, arrays) -> None:
        for d, arr in zip(self.inputs, arrays):
            self.interp.set_tensor(d["index"], arr)

    def invoke(self) -> None:
        self.interp.invoke()

    def get_outputs(self):
        return [self.interp.get_tensor(d["index"]) for d in self.outputs]


class _Onnx:
    def __init__(self, path: str, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.runtime, self.version, self.xnnpack = "onnxruntime", ort.__version__, False
        self.feed: dict = {}
        self.result = None

    def input_specs(self):
        types = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}
        return [
            (i.name, tuple(d if isinstance(d, int) else 1 for d in i.shape), np.dtype(types.get(i.type, np.float32)))
            for i in self.session.get_inputs()
        ]

    def set_inputs(self, arrays) -> None:
        self.feed = {i.name: a for i, a in zip(self.session.get_inputs(), arrays)}

    def invoke(self) -> None:
        self.result = self.session.run(None, self.feed)

    def get_outputs(self):
        return list(self.result or [])


def random_input(shape, dtype, rng) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, size=shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


class _Timed:
    """One loaded model with its inputs set: its load and first-inference times, and its timed runs so far."""

    def __init__(self, model_path: str, threads: int, warmup: int, input_npy: str | None) -> None:
        t0 = time.perf_counter()
        self.path = model_path
        self.model = _Onnx(model_path, threads) if model_path.endswith(".onnx") else _TFLite(model_path, threads)
        self.init_ms = (time.perf_counter() - t0) * 1e3
        specs = self.model.input_specs()
        if input_npy:
            arrays = [np.load(input_npy, allow_pickle=False).astype(specs[0][2]).reshape(specs[0][1])]
        else:
            rng = np.random.default_rng(0)
            arrays = [random_input(shape, dtype, rng) for _, shape, dtype in specs]
        self.model.set_inputs(arrays)
        self.first_ms = self.timed()
        self.warm = [self.timed() for _ in range(warmup)]
        self.samples: list[float] = []
        self.round_medians: list[float] = []

    def timed(self) -> float:
        start = time.perf_counter()
        self.model.invoke()
        return (time.perf_counter() - start) * 1e3

    def round(self, runs: int, pause_ms: float) -> None:
        this_round = []
        for _ in range(runs):
            this_round.append(self.timed())
            if pause_ms:
                time.sleep(pause_ms / 1e3)
        self.round_medians.append(summarize(this_round)["p50"])
        self.samples.extend(this_round)

    def result(self, threads: int, runs: int, with_outputs: bool) -> dict:
        result = {
            "schema": SCHEMA_VERSION,
            "tool": "edgedistill-runner",
            "model": os.path.basename(self.path),
            "model_bytes": os.path.getsize(self.path),
            "runtime": self.model.runtime,
            "runtime_version": self.model.version,
            "threads": threads,
            "xnnpack": self.model.xnnpack,
            "init_ms": self.init_ms,
            "first_inference_ms": self.first_ms,
            "warmup_runs": len(self.warm),
            "warmup_mean_ms": sum(self.warm) / len(self.warm) if self.warm else None,
            "runs": runs,
            "rounds": len(self.round_medians),
            "round_medians_ms": self.round_medians,
            "latency_ms": summarize(self.samples),
            "samples_ms": self.samples,
            "peak_rss_kb": peak_rss_kb(),
            "machine": platform.machine(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
        }
        if with_outputs:
            result["outputs"] = [o.tolist() for o in self.model.get_outputs()]
        return result


def measure(
    model_path: str,
    threads: int,
    runs: int,
    warmup: int,
    pause_ms: float = 0.0,
    input_npy: str | None = None,
    rounds: int = 1,
) -> dict:
    """Load, time one first inference, `warmup` untimed runs, then `rounds` x `runs` timed runs.

    Per-round medians show drift across rounds (thermal throttling shows as rising medians).
    """
    timed = _Timed(model_path, threads, warmup, input_npy)
    for _ in range(rounds):
        timed.round(runs, pause_ms)
    return timed.result(threads, runs, bool(input_npy))


def measure_interleaved(models: list[str], threads: int, runs: int, warmup: int, rounds: int) -> list[dict]:
    """Every model loaded and warmed up, then `rounds` rounds that each time `runs` runs of every model in turn:
    a machine whose speed drifts (a shared host, a throttling board) slows every model alike, so their medians
    of round medians compare."""
    loaded = [_Timed(m, threads, warmup, None) for m in models]
    for _ in range(rounds):
        for timed in loaded:
            timed.round(runs, 0.0)
    return [timed.result(threads, runs, False) for timed in loaded]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure a .tflite (or .onnx) model's latency and memory.")
    parser.add_argument("model", nargs="+", help="one or more .tflite / .onnx files, measured in turn")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the timed runs; the median of each round is reported"
    )
    parser.add_argument("--pause-ms", type=float, default=0.0, help="sleep between timed runs")
    parser.add_argument("--input", help=".npy input (already in the model's dtype/layout); its outputs are returned")
    parser.add_argument(
        "--interleave", action="store_true", help="load every model first, then time them in turn in each round"
    )
    args = parser.parse_args(argv)
    for model in args.model:
        if not os.path.isfile(model):
            print(f"runner: {model}: no such file", file=sys.stderr)
            return 2
    if min(args.threads, args.runs, args.rounds) < 1 or args.warmup < 0:
        print("runner: threads, runs and rounds must be >= 1 and warmup >= 0", file=sys.stderr)
        return 3
    if args.interleave:
        try:
            _emit(*measure_interleaved(args.model, args.threads, args.runs, args.warmup, args.rounds))
        except (ValueError, RuntimeError) as exc:
            print(f"runner: {_first_line(exc)}", file=sys.stderr)
            return 3
        return 0
    for model in args.model:
        try:
            result = measure(model, args.threads, args.runs, args.warmup, args.pause_ms, args.input, args.rounds)
        except (ValueError, RuntimeError) as exc:
            print(f"runner: {model}: {_first_line(exc)}", file=sys.stderr)
            return 3
        _emit(result)
    return 0


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _emit(*results: dict) -> None:
    for result in results:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
