"""How well a fitted latency predictor predicts whole models it never saw, on the host as the device.

    python -m edgedistill.benchmarks.suites.predictor [--threads 1] [--per-family 12] [--runs 50] [--keep DIR]
        [--json FILE]

`edgedistill calibrate`'s flow runs against the host through the local transport (the kernel suite built,
measured with the runner, the predictor fitted); then registry students at several widths and input sizes,
int8 and fp32, randomly initialised (latency does not depend on the weights' values), are measured with the
same runner and estimated from their kernels. Prints predicted vs measured p50 per model and how many fall
within +-15%.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.harness import median_ms, run_benchmarks
from edgedistill.benchmarks.latency.calibrate import calibrate
from edgedistill.benchmarks.latency.estimate import estimate
from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.devices.transport import LocalTransport
from edgedistill.progress import Progress

# (student, width, input size): held out of the calibration, which holds single kernels only
HELD_OUT = [
    ("mobilenetv2", 0.35, 96),
    ("mobilenetv2", 0.5, 128),
    ("mobilenetv2", 1.0, 96),
    ("mobilenetv3_small", 0.75, 96),
    ("dscnn", 1.0, 64),
    ("resnet8", 1.0, 48),
]
TOLERANCE = 0.15


def held_out_models(folder: Path) -> list[Path]:
    from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_int8
    from edgedistill.students import build_student

    paths = []
    folder.mkdir(parents=True, exist_ok=True)
    for name, width, size in HELD_OUT:
        shape = (3, size, size)
        for dtype in ("int8", "float32"):
            path = folder / f"{name}_w{width:g}_{size}_{dtype}.tflite"
            if not path.is_file():
                torch.manual_seed(0)
                model = build_student(name, num_classes=10, in_channels=3, input_size=size, width=width).eval()
                if dtype == "int8":
                    export_tflite_int8(model, shape, [torch.randn(1, *shape) for _ in range(8)], path)
                else:
                    export_tflite_fp32(model, shape, path)
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-family", type=int, default=12)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="work here (kernel and student models are reused)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="edgedistill-predictor-"))
    progress = Progress()
    transport = LocalTransport()
    calibration, _ = calibrate(
        transport,
        "host",
        "local",
        root,
        progress,
        threads=args.threads,
        per_family=args.per_family,
        runs=args.runs,
        out=root / "host.json",
    )
    models = held_out_models(root / "held_out")
    measured = run_benchmarks(transport, models, threads=args.threads, runs=args.runs, warmup=10)
    rows = []
    for path, result in zip(models, measured):
        predicted = estimate(path, calibration).total_ms
        p50 = median_ms(result)
        rows.append({"model": path.stem, "predicted_ms": predicted, "measured_ms": p50, "error": predicted / p50 - 1})
    within = sum(abs(r["error"]) <= TOLERANCE for r in rows)
    table = Table(
        title=f"latency predictor on the host ({calibration.machine}), {args.threads} thread(s): "
        f"{calibration.fit['models']} kernel models, fit error median {calibration.fit['median_abs_error']:.1%}"
    )
    for header in ("model", "predicted ms", "measured p50 ms", "error"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for r in rows:
        table.add_row(r["model"], f"{r['predicted_ms']:.3f}", f"{r['measured_ms']:.3f}", f"{r['error']:+.1%}")
    console = Console()
    console.print(table)
    console.print(f"within +-{TOLERANCE:.0%}: {within} of {len(rows)} held-out models")
    if args.json:
        write_results(args.json, {"calibration": calibration.model_dump(mode="json"), "rows": rows, "within": within})


if __name__ == "__main__":
    main()
