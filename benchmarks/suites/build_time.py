"""Time every stage of `edgedistill build --target rpi4` on the bundled example: cold, then cached; and the
example built in two processes.

    python -m edgedistill.benchmarks.suites.build_time [--keep DIR] [--json FILE] [--no-nproc]

Runs the real console script twice in a fresh folder and prints a table of seconds per stage, then the
cold build's models: size, test accuracy, agreement with the PyTorch student and host latency p50 of every
artifact, with the teacher, the labels-only baseline and the student. Then builds the example again in another
folder with `--nproc 2` (gloo on the CPU: the same batches dealt over two ranks) and compares its student with
the one-process student. --json writes all of it with its provenance (the README's demo tables come from
benchmarks/results/demo.json).
Targets (issue 2): the cold build under 10 minutes on 2 cores, the cached one under 30 s; two processes: the
student within 97% of the teacher and within 1.5 points (15 of 1,000 test digits) of the one-process student.
Two processes are another trajectory of the same training (each rank's BatchNorm statistics, another order of
sums), not the same floats; the spread the 1.5 points cover, measured: the one-process build alone moves 0.5
points across 1 to 4 torch threads (benchmarks/results/gpu_check_cpu_threads.json) and 0.6 points across 3 seeds
of the same recipe at 10 epochs (benchmarks/results/distillation.json); two processes once landed 0.7 points from
one process in CI (97.6 against 98.3). The mechanics (one cache, one build, rank 1's output in its log) are
tests/pipeline/test_distributed.py's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.suites.provenance import write_results

TWO_PROCESS_POINTS = 1.5  # the largest gap between the two-process and the one-process student


def timed_build(folder: Path, *extra: str) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgedistill.cli", "build", "--target", "rpi4", "--quiet", *extra],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed: {proc.stderr.strip()}")
    return wall, json.loads((folder / "build" / "rpi4" / "report.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build in this folder (kept) instead of a temporary one")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-nproc", action="store_true", help="skip the two-process build")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="edgedistill-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    cold_wall, cold = timed_build(folder)
    warm_wall, warm = timed_build(folder)

    table = Table(title="edgedistill build --target rpi4 (bundled MNIST example), seconds")
    for col in ("stage", "cold", "cached"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for c, w in zip(cold["stages"], warm["stages"]):
        table.add_row(c["name"], f"{c['seconds']:.1f}", f"{w['seconds']:.1f}" + (" (hit)" if w["cached"] else ""))
    table.add_row("whole command (wall)", f"{cold_wall:.1f}", f"{warm_wall:.1f}")
    console = Console()
    console.print(table)
    models = models_of(cold)
    threads = cold["host_benchmark"].get("threads")
    table = Table(title=f"the cold build's models (host p50: this machine, {threads} threads)")
    for col in ("model", "size KiB", "test accuracy %", "agreement %", "host p50 ms"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m in models:
        cells = [m["size_bytes"] and m["size_bytes"] / 1024, m["accuracy"], m["agreement"], m["host_p50_ms"]]
        table.add_row(m["model"], *("" if v is None else f"{v:.{2 if i else 1}f}" for i, v in enumerate(cells)))
    console.print(table)
    console.print(
        f"targets: cold < 600 s: {'met' if cold_wall < 600 else 'MISSED'}; cached < 30 s: {'met' if warm_wall < 30 else 'MISSED'}"
    )
    two = None if args.no_nproc else two_processes(folder / "nproc2", cold, console)
    if args.json:
        stages = [
            {"name": c["name"], "cold_s": c["seconds"], "cached_s": w["seconds"], "cache_hit": w["cached"]}
            for c, w in zip(cold["stages"], warm["stages"])
        ]
        write_results(
            args.json,
            {
                "stages": stages,
                "cold_wall_s": round(cold_wall, 1),
                "cached_wall_s": round(warm_wall, 1),
                "host_threads": threads,
                "models": models,
                **({"two_processes": two} if two else {}),
            },
        )
        console.print(f"saved {args.json}")


def two_processes(folder: Path, single: dict, console: Console) -> dict:
    """The example built with --nproc 2 in its own folder, its student against the one-process build's."""
    folder.mkdir(parents=True, exist_ok=True)
    wall, report = timed_build(folder, "--nproc", "2")
    teacher, one, two = single["teacher"]["accuracy"], single["student"]["accuracy"], report["student"]["accuracy"]
    result = {
        "wall_s": round(wall, 1),
        "student_accuracy": two,
        "one_process_student_accuracy": one,
        "gap_points": round(two - one, 2),
        "within_97pct_of_teacher": two >= 0.97 * teacher,
        "within_gap_bound": abs(two - one) <= TWO_PROCESS_POINTS,
        "same_data": report["data"] == single["data"],
    }
    met = result["within_97pct_of_teacher"] and result["within_gap_bound"] and result["same_data"]
    console.print(
        f"two processes ({wall:.0f} s): student {two:.2f}% against {one:.2f}% in one process ({two - one:+.2f} "
        f"points; bound {TWO_PROCESS_POINTS}), teacher {teacher:.2f}%: {'met' if met else 'MISSED'}"
    )
    return result


def models_of(report: dict) -> list[dict]:
    """The teacher, the labels-only baseline, the student and every artifact, as the demo table shows them."""

    def row(model, accuracy, size_bytes=None, agreement=None, host_p50_ms=None) -> dict:
        return {
            "model": model,
            "size_bytes": size_bytes,
            "accuracy": accuracy,
            "agreement": agreement,
            "host_p50_ms": host_p50_ms,
        }

    teacher, student, baseline = report["teacher"], report["student"], report.get("baseline")
    rows = [row(f"teacher ({teacher['params']:,} params)", teacher["accuracy"], teacher.get("file_bytes"))]
    if baseline:
        rows.append(row("the student on the labels alone (baseline)", baseline["test_accuracy"]))
    rows.append(row(f"student, {student['arch']['name']} ({student['params']:,} params, PyTorch)", student["accuracy"]))
    for a in report["artifacts"].values():
        p50 = (a.get("host_latency_ms") or {}).get("p50")
        rows.append(row(a["file"], a["accuracy"], a["size_bytes"], a["agreement_with_student"], p50))
    return rows


if __name__ == "__main__":
    main()
