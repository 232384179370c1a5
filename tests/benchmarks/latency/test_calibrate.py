"""`edgedistill calibrate` and `edgedistill estimate` through the CLI, with the host as the device (the local
transport: the runner measures real .tflite kernels with the real interpreter)."""

from __future__ import annotations

import json

import pytest

from edgedistill.benchmarks.latency.kernels import model_kernels
from edgedistill.benchmarks.latency.predictor import load_calibration
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A small, partial calibration of the host: a pooled fully connected layer and 2 real-layer models (a DS-CNN's
    and a MobileNetV2's first blocks: stems, depthwise and 1x1 convolutions) per dtype, and the family refined (1
    model more at most), 5 runs each."""
    folder = tmp_path_factory.mktemp("calibrate")
    config = folder / "config"
    args = ["calibrate", "--device", "local", "--name", "host", "--threads", "1", "--per-family", "1", "--runs", "5"]
    args += ["--only", "pool_fc", "--layers", "2", "--refine", "1"]
    proc = run_cli(*args, "--quiet", cwd=folder, env={"XDG_CONFIG_HOME": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # quiet: nothing but its own lines, no converter or runtime logs
    return folder, config / "edgedistill" / "devices" / "host.json", proc.stdout


def test_calibrate_saves_a_fit_for_the_device_in_the_config_folder(calibrated):
    folder, path, stdout = calibrated
    calibration = load_calibration(path)
    kernels = sorted((folder / ".edgedistill-cache" / "calibrate" / "kernels").glob("*.tflite"))
    assert 6 <= len(kernels) <= 7  # 6 drawn, 1 more where the first fit erred most
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("calibrating host: 6 benchmark models (") and lines[0].endswith(" min")
    assert lines[1].startswith(f"wrote {path}: {len(kernels)} benchmark models")
    assert calibration.device == "host" and calibration.threads == 1 and calibration.runtime == "ai_edge_litert"
    assert calibration.machine.startswith("x86_64") and calibration.runtime_version and calibration.date
    assert "local" in calibration.source and calibration.fit["models"] == len(kernels)
    keys = {k.key for path in kernels for k in model_kernels(path)}
    assert set(calibration.kernels) == keys  # every kernel the suite holds got a fit
    assert {"CONV_2D.1x1/int8", "DEPTHWISE_CONV_2D/float32", "FULLY_CONNECTED/int8"} <= keys
    # its error on the real layers it was not fitted to, the source of a budget's margin, is stated and kept
    held = calibration.held_out
    assert held is not None and "cross-validation: 4 real-layer models" in held.source and len(held.errors) == 4
    assert lines[2].startswith("held-out error: median ") and f"margin of {held.margin():.1%}" in lines[2]


def test_estimate_prints_every_kernel_and_a_total_labelled_with_its_calibration(calibrated):
    folder, path, _ = calibrated
    model = next((folder / ".edgedistill-cache" / "calibrate" / "kernels").glob("pool_fc_*_int8.tflite"))
    proc = run_cli("estimate", str(model), "--calibration", str(path), "--json", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    kernels = model_kernels(model)
    assert [k["key"] for k in result["kernels"]] == [k.key for k in kernels]
    total = result["overhead_ms"] + result["weights_ms"] + sum(k["ms"] for k in result["kernels"])
    assert result["estimate_ms"] == pytest.approx(total, abs=1e-3) and result["estimate_ms"] > 0
    assert result["calibration"] == str(path) and result["device"] == "host"
    assert result["uncalibrated_share"] == 0.0 and result["uncalibrated_kernels"] == []
    table = run_cli("estimate", str(model), "--calibration", str(path), cwd=folder)
    key = kernels[0].key
    assert "estimate:" in table.stdout and key in table.stdout and str(path.name) in table.stdout
    assert "uncalibrated: 0% of the estimate" in table.stdout


def test_estimate_without_a_calibration_says_so_rather_than_inventing_a_number(calibrated, tmp_path):
    folder, _, _ = calibrated
    model = next((folder / ".edgedistill-cache" / "calibrate" / "kernels").glob("*.tflite"))
    proc = run_cli("estimate", str(model), "--target", "rpi4", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().startswith("error: no latency calibration for rpi4")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_estimate_with_another_thread_count_is_one_line(calibrated):
    folder, path, _ = calibrated
    model = next((folder / ".edgedistill-cache" / "calibrate" / "kernels").glob("*.tflite"))
    proc = run_cli("estimate", str(model), "--calibration", str(path), "--threads", "4", cwd=folder)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == f"error: {path}: calibrated with 1 threads, not 4 (run `edgedistill calibrate --threads 4`)"
    )
