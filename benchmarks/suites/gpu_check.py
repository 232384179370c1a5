"""The accelerator check (benchmarks/gpu_check.sh's core): the bundled example built with `distillation.device`
set to the accelerator at fp32, bf16 and fp16, then in two processes (`--nproc 2`, NCCL) where two GPUs exist;
each student's test accuracy checked against the CPU build's, and training throughput printed beside the CPU's.

    python -m edgedistill.benchmarks.suites.gpu_check --device cuda --work /tmp/gpu-check

Every setting is a real `edgedistill build --target rpi4` (the console script; one stage cache for all, so the
decoded data is shared and each setting trains anew: the device and precision are part of the training stages'
keys), so what a user runs is what is checked: training on the device, the student handed back to the CPU,
export and verify.
The CPU build is made first; on a machine without the device the check says so after it and exits 0.
`--device cpu` runs the same path with the CPU as the device (what the test suite does; its fp32 setting is the
CPU build's very configuration, so it comes from the cache).

Accuracy: a student may differ from the CPU build's by at most TOLERANCE_POINTS, the spread of the CPU build's
own student across torch thread counts (another order of the same sums; see benchmarks/results/gpu_check_cpu_threads.json).
Throughput: images trained by the distill stage (epochs x its training samples) over the stage's wall time,
validation and the teacher's passes included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from rich.table import Table

from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.progress import table_console

# the spread of the CPU build's student test accuracy across torch thread counts: 97.80% with 1 thread, 98.30% with
# 2, 3 and 4 (15 epochs, 1,000 test digits), measured by this script's --thread-spread 1,2,3,4
TOLERANCE_POINTS = 0.5
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Setting:
    label: str
    device: str
    precision: str = "fp32"
    nproc: int = 1


@dataclass(frozen=True)
class Outcome:
    setting: Setting
    student_accuracy: float
    teacher_accuracy: float
    int8_accuracy: float | None
    distill_seconds: float
    images_trained: int

    @property
    def images_per_second(self) -> float:
        return self.images_trained / self.distill_seconds if self.distill_seconds > 0 else float("nan")


def example_config(setting: Setting, epochs: int | None, formats: list[str] | None) -> dict:
    """The bundled example's project config on `setting`'s device and precision (no labels-only baseline, no
    latency benchmark: the check is about training)."""
    distillation: dict = {"device": setting.device, "precision": setting.precision, "baseline": False}
    if epochs is not None:
        distillation["epochs"] = epochs
    config = {
        "name": "mnist-example",
        "teacher": {"bundled": "mnist-resnet8"},
        "data": {"bundled": "mnist"},
        "distillation": distillation,
        "benchmark": {"enabled": False},
    }
    if formats:
        config["export"] = {"formats": formats}
    return config


def build(
    setting: Setting, work: Path, epochs: int | None, formats: list[str] | None, threads: int | None, cache: Path
) -> Outcome:
    """Run `edgedistill build --target rpi4` for one setting in work/<label> with the stage cache `cache`; raise
    SystemExit with the build's own error line when it fails."""
    folder = work / setting.label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edgedistill.yaml").write_text(yaml.safe_dump(example_config(setting, epochs, formats), sort_keys=False))
    command = [sys.executable, "-m", "edgedistill.cli", "build", "--target", "rpi4", "--quiet", "--cache", str(cache)]
    if setting.nproc > 1:
        command += ["--nproc", str(setting.nproc)]
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{setting.label}: build failed: {proc.stderr.strip()[-2000:]}")
    report = json.loads((folder / "build" / "rpi4" / "report.json").read_text())
    distill = next(s for s in report["stages"] if s["name"] == "distill")
    student = report["student"]
    samples = student["samples"]["labelled"] + student["samples"]["transfer"]
    int8 = report["artifacts"].get("tflite_int8")
    return Outcome(
        setting=setting,
        student_accuracy=student["accuracy"],
        teacher_accuracy=report["teacher"]["accuracy"],
        int8_accuracy=int8["accuracy"] if int8 else None,
        distill_seconds=distill["built_seconds"],
        images_trained=samples * len(student["history"]),
    )


def device_absence(device: str) -> str | None:
    """Why `device` cannot be trained on here, or None when it can."""
    import torch

    from edgedistill.pipeline.distill.runtime import mps_available

    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        return f"no GPU here: torch {torch.__version__} sees no CUDA device"
    if kind == "mps" and not mps_available():
        return f"no GPU here: torch {torch.__version__} sees no Apple GPU (MPS)"
    return None


def device_settings(device: str, precisions: list[str], nproc: int) -> tuple[list[Setting], list[str]]:
    """The settings to build on the device, and a line for each one left out and why."""
    import torch

    settings = [Setting(f"{device.replace(':', '')}-{p}", device, p) for p in precisions]
    skipped = []
    if device.split(":")[0] == "cuda" and nproc > 1:
        gpus = torch.cuda.device_count()
        if gpus >= nproc:
            settings.append(Setting(f"cuda-fp32-nproc{nproc}", "cuda", "fp32", nproc))
        else:
            skipped.append(f"--nproc {nproc} with NCCL: not run ({gpus} GPU(s) here, one per process needed)")
    return settings, skipped


def within(outcome: Outcome, reference: Outcome, tolerance: float) -> bool:
    return round(abs(outcome.student_accuracy - reference.student_accuracy), 6) <= tolerance  # 2-decimal figures


def table(outcomes: list[Outcome], reference: Outcome, tolerance: float) -> Table:
    t = Table(
        title=f"bundled example on each setting: student test accuracy against the CPU build (tolerance {tolerance:g} points)"
    )
    for col in ("setting", "student", "vs CPU", "int8", "within", "distill images/s", "CPU images/s"):
        t.add_column(col, justify="left" if col == "setting" else "right")
    for o in outcomes:
        is_ref = o is reference
        t.add_row(
            o.setting.label,
            f"{o.student_accuracy:.2f}%",
            "" if is_ref else f"{o.student_accuracy - reference.student_accuracy:+.2f}",
            "-" if o.int8_accuracy is None else f"{o.int8_accuracy:.2f}%",
            "" if is_ref else ("yes" if within(o, reference, tolerance) else "NO"),
            f"{o.images_per_second:,.0f}",
            f"{reference.images_per_second:,.0f}",
        )
    return t


def thread_spread(work: Path, threads: list[int], epochs: int | None, formats: list[str] | None, console) -> dict:
    """The CPU build at each torch thread count: how far its student moves when only the order of the sums
    changes (the yardstick for a GPU's students). Returns the results to record."""
    outcomes = []
    for t in threads:
        console.print(f"building the bundled example on the CPU with {t} torch thread(s) ...")
        label = f"cpu-threads{t}"  # each its own cache: the thread count is not part of a stage's key
        outcomes.append(build(Setting(label, "cpu"), work, epochs, formats, t, work / label / "cache"))
    t = Table(title="the CPU build's student at each torch thread count")
    for col in ("threads", "student", "int8", "distill images/s"):
        t.add_column(col, justify="right")
    for n, o in zip(threads, outcomes):
        int8 = "-" if o.int8_accuracy is None else f"{o.int8_accuracy:.2f}%"
        t.add_row(str(n), f"{o.student_accuracy:.2f}%", int8, f"{o.images_per_second:,.0f}")
    console.print(t)
    accuracies = [o.student_accuracy for o in outcomes]
    spread = round(max(accuracies) - min(accuracies), 3)
    console.print(f"spread of the student's test accuracy across {len(threads)} thread counts: {spread:.2f} points")
    return {"threads": threads, "spread_points": spread, "outcomes": [asdict(o) for o in outcomes]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, mps, or cpu (the CPU as the device)")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated: fp32, bf16, fp16")
    parser.add_argument(
        "--nproc",
        type=int,
        default=2,
        help="also build in this many processes (NCCL) when as many GPUs exist; 1: never",
    )
    parser.add_argument(
        "--work", type=Path, required=True, help="folder for the builds (kept; reruns reuse their caches)"
    )
    parser.add_argument("--epochs", type=int, help="distillation epochs (default: the example's 15)")
    parser.add_argument("--formats", help="comma-separated export formats (default: the example's six)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for every build (default: torch's own choice)")
    parser.add_argument(
        "--tolerance", type=float, default=TOLERANCE_POINTS, help="points a student may differ from the CPU build's"
    )
    parser.add_argument(
        "--json", type=Path, help="write the results here (with the commit, command, machine and versions)"
    )
    parser.add_argument(
        "--thread-spread",
        help="instead: build on the CPU at each of these torch thread counts (e.g. 1,2,3,4) and print the spread",
    )
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",")] if args.formats else None
    if args.thread_spread:
        threads = [int(t) for t in args.thread_spread.split(",")]
        results = thread_spread(args.work, threads, args.epochs, formats, table_console())
        if args.json:
            write_results(args.json, results, _invocation(argv))
        return 0
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if unknown := [p for p in precisions if p not in PRECISIONS]:
        parser.error(f"--precisions: unknown {', '.join(unknown)} (use {', '.join(PRECISIONS)})")
    console = table_console()

    def run(setting: Setting) -> Outcome:
        console.print(f"building the bundled example: {setting.label} ...")
        return build(setting, args.work, args.epochs, formats, args.threads, args.work / "cache")

    reference = run(Setting("cpu-build", "cpu"))
    outcomes = [reference]
    absent = device_absence(args.device)
    skipped: list[str] = []
    if absent is None:
        settings, skipped = device_settings(args.device, precisions, args.nproc)
        outcomes += [run(s) for s in settings]
    console.print(table(outcomes, reference, args.tolerance))
    for line in skipped:
        console.print(line)
    failed = [o.setting.label for o in outcomes[1:] if not within(o, reference, args.tolerance)]
    if args.json:
        write_results(
            args.json,
            {
                "tolerance_points": args.tolerance,
                "build_threads": args.threads,
                "device_absent": absent,
                "skipped": skipped,
                "outcomes": [{**asdict(o), "images_per_second": round(o.images_per_second, 1)} for o in outcomes],
            },
            _invocation(argv),
        )
    if absent is not None:
        console.print(f"{absent}; only the CPU build above was run, nothing was checked on {args.device}")
        return 0
    if failed:
        console.print(f"OUTSIDE the tolerance of {args.tolerance:g} points: {', '.join(failed)}")
        return 1
    console.print(f"every setting on {args.device} is within {args.tolerance:g} points of the CPU build")
    return 0


def _invocation(argv: list[str] | None) -> list[str]:
    """This script's command line (argv as main() was given it, else the process's) for the results' provenance."""
    return ["gpu_check.py", *(sys.argv[1:] if argv is None else argv)]


if __name__ == "__main__":
    sys.exit(main())
