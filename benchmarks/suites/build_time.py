"""Time every stage of `edgedistill build --target rpi4` on the bundled example: cold, then cached.

    python -m edgedistill.benchmarks.suites.build_time [--keep DIR]

Runs the real console script twice in a fresh folder and prints a table of seconds per stage.
Targets (issue 2): the cold build under 10 minutes on 2 cores, the cached one under 30 s.
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


def timed_build(folder: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgedistill.cli", "build", "--target", "rpi4", "--quiet", "--json"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed: {proc.stderr.strip()}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build in this folder (kept) instead of a temporary one")
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
    r = cold
    console.print(
        f"teacher {r['teacher']['accuracy']:.2f}%  student {r['student']['accuracy']:.2f}%  "
        f"int8 {r['artifacts']['tflite_int8']['accuracy']:.2f}%  ({r['artifacts']['tflite_int8']['size_bytes'] / 1024:.1f} KiB)"
    )
    console.print(
        f"targets: cold < 600 s: {'met' if cold_wall < 600 else 'MISSED'}; cached < 30 s: {'met' if warm_wall < 30 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
