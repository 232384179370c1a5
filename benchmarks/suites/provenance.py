"""What a results file records about how it was made: the commit, the exact command, the date, the machine
(cores, CPU, accelerator) and the versions of the libraries that made the numbers."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

FIELDS = ("commit", "command", "date", "machine", "versions")  # what every results file records
RESULTS = "benchmarks/results"  # what the suites write: a changed results file is output, not code
LIBRARIES = ("torch", "numpy", "onnxruntime", "ai-edge-litert", "litert-torch", "torchao", "edgedistill")


def commit(repo: Path | None = None) -> str:
    """HEAD's hash, with '+dirty' when tracked files other than results files differ from it; 'unknown' outside a
    git checkout."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){RESULTS}"],
            cwd=repo,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def accelerator() -> str:
    import torch

    from edgedistill.pipeline.distill.runtime import mps_available

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"{len(names)} x {names[0]} (CUDA {torch.version.cuda})"
    if mps_available():
        return "Apple GPU (MPS)"
    return "none"


def provenance(argv: list[str] | None = None) -> dict[str, object]:
    from edgedistill.benchmarks.runner import cpu_model
    from edgedistill.portable import usable_cpus

    argv = sys.argv if argv is None else argv
    return {
        "commit": commit(),
        "command": shlex.join(["python", "-m", _module_of(argv[0]), *argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "system": f"{platform.system()} {platform.machine()}",
            "cores": usable_cpus(),
            "cpu": cpu_model(),
            "accelerator": accelerator(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "versions": versions(),
    }


def write_results(path: Path, results: dict[str, object], argv: list[str] | None = None) -> None:
    """A results file: {"provenance": ..., **results}, written atomically (a killed run leaves the old file)."""
    from edgedistill.fsutil import write_json

    write_json(Path(path), {"provenance": provenance(argv), **results})


def _module_of(script: str) -> str:
    """'.../benchmarks/suites/gpu_check.py' -> 'edgedistill.benchmarks.suites.gpu_check' (the way to rerun it)."""
    path = Path(script)
    if path.suffix != ".py":
        return script
    return f"edgedistill.benchmarks.suites.{path.stem}"
