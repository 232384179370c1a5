"""How well the latency predictor predicts models it never saw: the held-out zoo, with the host as the device.

    python -m edgedistill.benchmarks.suites.predictor [--threads 1] [--per-family 5] [--runs 60] [--keep DIR]
        [--json FILE]

`edgedistill calibrate`'s flow runs against the host through the local transport (benchmark models built,
measured with the runner, the predictor fitted, more models where it errs most, fitted again). The held-out zoo
(benchmarks/latency/zoo.py, frozen by its hash: 11 families at two input sizes, fp32 and int8) is measured in the
calibration's final measurement, interleaved with it, and never fitted to. Prints each zoo model's predicted and
measured latency and error, the median error, the 90th percentile of the absolute error and the worst, and how
many are within +-10% and +-20%; the calibration it writes keeps that error as its budget margin's source.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.latency.calibrate import calibrate
from edgedistill.benchmarks.latency.estimate import estimate
from edgedistill.benchmarks.latency.suite import convert_models
from edgedistill.benchmarks.latency.zoo import ZOO, definitions_hash, frozen_hash
from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.devices.transport import LocalTransport
from edgedistill.progress import Progress

DTYPES = ("float32", "int8")
TARGETS = {"within_10": 0.10, "within_20": 0.20}  # the bars: 90% within 10%, none beyond 20%


def zoo_models(folder: Path, progress: Progress) -> list[Path]:
    """Every zoo model in each dtype, converted once into folder (reused after)."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(entry, dtype, folder / f"{entry.name}_{dtype}.tflite") for entry in ZOO for dtype in DTYPES]
    with progress.task("converting the held-out zoo", total=len(jobs)) as advance:
        return convert_models(jobs, advance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-family", type=int, default=5)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="work here (benchmark and zoo models are reused)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if definitions_hash() != frozen_hash():
        raise SystemExit("the held-out zoo differs from its frozen hash (benchmarks/latency/zoo.sha256)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="edgedistill-predictor-"))
    progress = Progress()
    console = Console()
    zoo = zoo_models(root / "zoo", progress)
    started = time.monotonic()
    calibration, _ = calibrate(
        LocalTransport(),
        "host",
        "local",
        root,
        progress,
        threads=args.threads,
        per_family=args.per_family,
        runs=args.runs,
        held_out=zoo,
        held_out_source=f"the held-out zoo: {len(zoo)} models (benchmarks/latency/zoo.py, sha256 {frozen_hash()[:12]})",
        announce=console.print,
        out=root / "host.json",
    )
    calibrate_s = time.monotonic() - started
    held = calibration.held_out
    assert held is not None
    rows = []
    for path, error in zip(zoo, held.errors):
        result = estimate(path, calibration)
        predicted = result.total_ms
        rows.append(
            {
                "model": path.stem,
                "predicted_ms": round(predicted, 4),
                "measured_ms": round(predicted / (1 + error), 4),
                "error": error,
                "uncalibrated_share": round(result.uncalibrated_share, 4),
            }
        )
    errors = np.array(held.errors)
    summary = {
        **held.summary(),
        **{name: int((np.abs(errors) <= bound).sum()) for name, bound in TARGETS.items()},
        "models": len(rows),
        "margin": held.margin(),
        "largest_uncalibrated_share": max(r["uncalibrated_share"] for r in rows),
        "calibrate_seconds": round(calibrate_s),
    }
    table = Table(
        title=f"latency predictor on the held-out zoo, the host ({calibration.machine}) at {args.threads} thread(s): "
        f"fitted on {calibration.fit['models']} benchmark models, fit error median "
        f"{calibration.fit['median_abs_error']:.1%}"
    )
    for header in ("model", "predicted ms", "measured ms", "error", "uncalibrated"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['predicted_ms']:.3f}",
            f"{r['measured_ms']:.3f}",
            f"{r['error']:+.1%}",
            f"{r['uncalibrated_share']:.0%}",
        )
    console.print(table)
    console.print(
        f"held-out error: median {summary['median']:+.1%}, 90th percentile of |error| {summary['p90_abs']:.1%}, "
        f"worst {summary['worst']:+.1%}; within +-10%: {summary['within_10']} of {len(rows)}, within +-20%: "
        f"{summary['within_20']}; budget margin {summary['margin']:.1%}; calibration took {calibrate_s / 60:.1f} min"
    )
    if args.json:
        write_results(args.json, {"calibration": calibration.model_dump(mode="json"), "rows": rows, **summary})


if __name__ == "__main__":
    main()
