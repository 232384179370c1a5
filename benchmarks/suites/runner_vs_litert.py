"""Check our runner against LiteRT's own Python benchmark on the same models and threads.

    python -m edgedistill.benchmarks.suites.runner_vs_litert [--threads 2] [--runs 200] [--models a.tflite ...] [--json FILE]

With no --models it exports MobileNetV2 1.0 at 128x128 (random weights: latency does not depend on
them) as fp32 and int8 TFLite. Prints runner p50 vs benchmark_litert_model median and their ratio;
the target (issue 3) is agreement within 10%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.harness import median_ms, run_benchmark
from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.devices.transport import LocalTransport


def reference_models(folder: Path) -> list[Path]:
    import torch

    from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_int8
    from edgedistill.students import build_student

    torch.manual_seed(0)
    model = build_student("mobilenetv2", num_classes=10, in_channels=3, input_size=128, width=1.0).eval()
    shape = (3, 128, 128)
    fp32, int8 = folder / "mbv2_128_fp32.tflite", folder / "mbv2_128_int8.tflite"
    export_tflite_fp32(model, shape, fp32, folder / "convert.log")
    export_tflite_int8(model, shape, (torch.randn(1, *shape) for _ in range(32)), int8, folder / "convert.log")
    return [fp32, int8]


def litert_median_ms(model: Path, threads: int, runs: int, out: Path) -> float:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ai_edge_litert.tools.benchmark_litert_model",
            "--model",
            str(model),
            "--num_threads",
            str(threads),
            "--num_runs",
            str(runs),
            "--result_json",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return float(json.loads(out.read_text())["latency"]["median_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="each thread count in turn")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--trials", type=int, default=5, help="alternate the two tools this many times; medians are compared"
    )
    parser.add_argument("--models", type=Path, nargs="*")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="edgedistill-runner-check-"))
    models = args.models or reference_models(folder)
    table = Table(title=f"runner vs benchmark_litert_model ({args.runs} runs x {args.trials} alternating trials)")
    for col in ("model", "threads", "runner p50 ms", "LiteRT median ms", "runner / LiteRT", "per-trial ratios"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_column("within 10%", justify="right")
    rows = []
    with LocalTransport() as transport:
        for threads in args.threads:
            for model in models:
                ours, theirs = [], []
                for _ in range(args.trials):  # alternate, so drifting load on a shared host hits both tools alike
                    ours.append(median_ms(run_benchmark(transport, model, threads=threads, runs=args.runs, warmup=20)))
                    theirs.append(litert_median_ms(model, threads, args.runs, folder / f"{model.stem}.json"))
                ours_ms, theirs_ms = statistics.median(ours), statistics.median(theirs)
                ratio = ours_ms / theirs_ms
                rows.append(
                    {
                        "model": model.name,
                        "threads": threads,
                        "runner_p50_ms": ours,
                        "litert_median_ms": theirs,
                        "ratio": ratio,
                    }
                )
                table.add_row(
                    model.name,
                    str(threads),
                    f"{ours_ms:.3f}",
                    f"{theirs_ms:.3f}",
                    f"{ratio:.3f}",
                    " ".join(f"{a / b:.2f}" for a, b in zip(ours, theirs)),
                    "yes" if abs(ratio - 1) <= 0.10 else "NO",
                )
    console = Console(width=140)
    console.print(table)
    console.print("LiteRT rounds its median to 0.01 ms: compare on models that take a millisecond or more.")
    if args.json:
        write_results(args.json, {"runs": args.runs, "trials": args.trials, "rows": rows})


if __name__ == "__main__":
    main()
