"""What pruning buys on the bundled example: structured pruning ratio x export format.

    python -m edgedistill.benchmarks.suites.compression [--ratios 0 0.3 0.5 0.7] [--seeds 0] [--json FILE] [--svg FILE]

Each ratio is a full `build` of the bundled example (distillation shared through the stage cache),
with `prune: {ratio: R, finetune_epochs: 5}`. The table gives params, MACs, file size (and gzip
size), test accuracy and host latency p50 for every artifact; the SVG plots int8 test accuracy
against MACs (drawn by the report's own SVG charts: nothing extra to install). Host latency is this x86 machine's, not a device's. With several --seeds every build
runs once per seed (distillation, pruning and fine-tuning all seeded) and rows carry their seed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.pipeline.build import build
from edgedistill.pipeline.config import PruneConfig, default_config
from edgedistill.progress import Progress


def run_ratio(
    ratio: float, seed: int, out_root: Path, cache: Path, progress: Progress, finetune_epochs: int
) -> list[dict[str, Any]]:
    config = default_config()
    config = config.model_copy(update={"distillation": config.distillation.model_copy(update={"seed": seed})})
    if ratio > 0:
        config = config.model_copy(update={"prune": PruneConfig(ratio=ratio, finetune_epochs=finetune_epochs)})
    report = build(config, "rpi4", out_root / f"seed-{seed}" / f"ratio-{ratio:g}", cache, progress).report.model_dump(
        mode="json"
    )
    s = report["student"]
    return [
        {
            "seed": seed,
            "ratio": ratio,
            "format": fmt,
            "params": s["params"],
            "macs": s["macs"],
            "size_bytes": a["size_bytes"],
            "gzip_bytes": a["gzip_bytes"],
            "test_accuracy": a["accuracy"],
            "host_p50_ms": (a.get("host_latency_ms") or {}).get("p50"),
        }
        for fmt, a in report["artifacts"].items()
    ]


def plot(rows: list[dict[str, Any]], svg: Path) -> None:
    """int8 TFLite test accuracy against MACs, one point per pruning ratio (the first seed's builds)."""
    from edgedistill.fsutil import write_text
    from edgedistill.pipeline.report.svg_plots import scatter, standalone

    int8 = [r for r in rows if r["format"] == "tflite_int8" and r["seed"] == rows[0]["seed"]]
    points = [(f"ratio {r['ratio']:g}", r["macs"] / 1e6, r["test_accuracy"]) for r in int8]
    title = "structured pruning: int8 accuracy vs MACs"
    chart = scatter(title, "MACs (millions)", "int8 TFLite test accuracy %", points)
    write_text(svg, standalone(chart))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgedistill" / "bench-compression")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--svg", type=Path, help="also plot int8 accuracy against MACs here")
    args = parser.parse_args()
    progress = Progress(Console(stderr=True))
    out_root = Path(tempfile.mkdtemp(prefix="edgedistill-compression-"))
    rows = [
        row
        for seed in args.seeds
        for ratio in args.ratios
        for row in run_ratio(ratio, seed, out_root, args.cache, progress, args.finetune_epochs)
    ]
    table = Table(title="bundled example: structured pruning ratio x format (host latency: this x86 CPU)")
    for col in ("seed", "ratio", "format", "params", "MACs", "size KiB", "gzip KiB", "test acc %", "host p50 ms"):
        table.add_column(col, justify="left" if col == "format" else "right")
    for r in rows:
        p50 = "-" if r["host_p50_ms"] is None else f"{r['host_p50_ms']:.3f}"
        table.add_row(
            str(r["seed"]),
            f"{r['ratio']:g}",
            r["format"],
            f"{r['params']:,}",
            f"{r['macs']:,}",
            f"{r['size_bytes'] / 1024:.1f}",
            f"{r['gzip_bytes'] / 1024:.1f}",
            f"{r['test_accuracy']:.2f}",
            p50,
        )
    Console(width=140).print(table)
    if args.json:
        write_results(args.json, {"rows": rows})
    if args.svg:
        plot(rows, args.svg)


if __name__ == "__main__":
    main()
