"""benchmarks/gpu_check.sh and its Python core on a machine without a GPU: the CPU build, then the plain
'no GPU here'; and the core with the CPU as the device (real builds of the bundled example, at 1 epoch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgedistill.benchmarks.suites import gpu_check

ROOT = Path(__file__).parents[3]
QUICK = ["--epochs", "1", "--formats", "onnx"]  # a short build: one epoch, the fastest export


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script checks it for real")
def test_the_script_builds_on_the_cpu_then_says_there_is_no_gpu_and_the_core_checks_a_device(
    tmp_path, capsys, monkeypatch
):
    work, home = tmp_path / "work", tmp_path / "home"
    monkeypatch.setenv("EDGEDISTILL_HOME", str(home))  # the user's own cache stays out
    script = subprocess.run(
        [
            "bash",
            str(ROOT / "benchmarks" / "gpu_check.sh"),
            "--work",
            str(work),
            *QUICK,
            "--json",
            str(tmp_path / "a.json"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=900,
    )
    assert script.returncode == 0, script.stderr[-3000:]
    lines = script.stdout.strip().splitlines()
    assert lines[-1].startswith("no GPU here: torch") and lines[-1].endswith("nothing was checked on cuda")
    assert any(line.startswith("│ cpu-build ") for line in lines)  # the CPU build ran first
    first = json.loads((tmp_path / "a.json").read_text())
    assert first["device_absent"].startswith("no GPU here")
    assert [o["setting"]["label"] for o in first["outcomes"]] == ["cpu-build"]
    reference = first["outcomes"][0]
    assert reference["student_accuracy"] > 30 and reference["images_per_second"] > 0
    assert first["provenance"]["command"].startswith("python -m edgedistill.benchmarks.suites.gpu_check --device cuda")

    # the core with the CPU as the device: its fp32 setting is the CPU build's configuration, so every stage comes
    # from the one cache the settings share, and the device row is that same student
    args = ["--device", "cpu", "--precisions", "fp32", "--nproc", "1", "--work", str(work), *QUICK]
    assert gpu_check.main([*args, "--tolerance", "0", "--json", str(tmp_path / "b.json")]) == 0
    second = json.loads((tmp_path / "b.json").read_text())
    assert [o["setting"]["label"] for o in second["outcomes"]] == ["cpu-build", "cpu-fp32"]
    assert second["outcomes"][0] == reference  # read from its cache, with the time its training took
    device = second["outcomes"][1]
    assert device["setting"] == {"label": "cpu-fp32", "device": "cpu", "precision": "fp32", "nproc": 1}
    assert device["student_accuracy"] == reference["student_accuracy"] and device["images_per_second"] > 0
    assert "every setting on cpu is within 0 points of the CPU build" in capsys.readouterr().out


def test_a_student_outside_the_tolerance_fails_the_check():
    def outcome(label: str, accuracy: float) -> gpu_check.Outcome:
        return gpu_check.Outcome(gpu_check.Setting(label, "cuda"), accuracy, 98.7, None, 10.0, 52500)

    reference = outcome("cpu-build", 98.3)
    assert gpu_check.within(outcome("cuda-bf16", 97.8), reference, 0.5)
    assert not gpu_check.within(outcome("cuda-fp16", 97.7), reference, 0.5)
    assert outcome("cuda-fp32", 98.0).images_per_second == 5250
