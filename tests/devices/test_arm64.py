"""The emulated Raspberry Pi 4: arm64 Debian under qemu-user, reached over real SSH.

Timings under emulation mean nothing; these tests check the result format and that the model
computes on the device what it computes on the host.
"""

from __future__ import annotations

import json

import numpy as np

from edgedistill.devices.ssh import SSHTransport
from tests.conftest import run_cli


def test_the_device_is_aarch64(arm64_ssh_device):
    t = SSHTransport(arm64_ssh_device.destination, ssh_config=arm64_ssh_device.ssh_config)
    assert t.run(["uname", "-m"], timeout=120).stdout.strip() == "aarch64"
    t.close()


def test_bench_on_the_arm64_device_matches_the_host(arm64_ssh_device, built_project, tmp_path):
    model = built_project.out / "model_int8.tflite"
    q = np.random.default_rng(1).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    np.save(tmp_path / "in.npy", q)
    args = [
        "bench",
        str(model),
        "--target",
        "rpi4",
        "--runs",
        "5",
        "--warmup",
        "2",
        "--rounds",
        "2",
        "--json",
        "--input",
        str(tmp_path / "in.npy"),
    ]
    device = run_cli(
        *args,
        "--device",
        arm64_ssh_device.destination,
        "--ssh-config",
        str(arm64_ssh_device.ssh_config),
        "--timeout",
        "300",
        cwd=tmp_path,
    )
    assert device.returncode == 0, device.stderr
    host = run_cli(*args, "--device", "local", cwd=tmp_path)
    d, h = json.loads(device.stdout), json.loads(host.stdout)
    assert d["machine"] == "aarch64" and d["runtime"] == "ai_edge_litert" and d["threads"] == 4 and d["xnnpack"] is True
    assert set(h) == set(d)  # one schema on host and device
    assert d["runs"] == 5 and len(d["samples_ms"]) == 10 and len(d["round_medians_ms"]) == 2 and d["peak_rss_kb"] > 0
    dev_out, host_out = np.array(d["outputs"][0]), np.array(h["outputs"][0])
    assert dev_out.shape == host_out.shape == (1, 10)
    assert np.abs(dev_out - host_out).max() <= 1  # int8 logits: the same, at most one quantization step apart
    assert dev_out.argmax() == host_out.argmax()


def test_build_with_a_device_adds_its_numbers_to_the_report(arm64_ssh_device, project_copy):
    proc = run_cli(
        "build",
        "--target",
        "rpi4",
        "--device",
        arm64_ssh_device.destination,
        "--ssh-config",
        str(arm64_ssh_device.ssh_config),
        "--quiet",
        "--json",
        cwd=project_copy,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((project_copy / "build" / "rpi4" / "report.json").read_text())
    assert report["device"] == {"device": "testdevice", "target": "rpi4", "threads": 4, "runtime": "python"}
    for fmt in ("tflite_fp32", "tflite_int8"):
        d = report["artifacts"][fmt]["device_benchmark"]
        assert d["machine"] == "aarch64" and d["runs"] == 5 and report["artifacts"][fmt]["device_latency_ms"]["p50"] > 0
        assert len(d["round_medians_ms"]) == 3 and len(d["samples_ms"]) == 15  # benchmark.rounds, default 3
    assert report["artifacts"]["onnx"]["device_benchmark"] is None  # the device measures TFLite only
    assert json.loads(proc.stdout)["device"]["device"] == "testdevice"
    page = (project_copy / "build" / "rpi4" / "report.html").read_text()
    assert "device latency per run" in page and "device latency, median of each round" in page


def test_calibrate_and_estimate_run_against_the_arm64_device(arm64_ssh_device, tmp_path):
    """The predictor's flow over SSH: emulated timings mean nothing, so only the flow and the device's identity
    in the calibration file are checked."""
    out = tmp_path / "rpi4.json"
    proc = run_cli(
        "calibrate",
        "--device",
        arm64_ssh_device.destination,
        "--ssh-config",
        str(arm64_ssh_device.ssh_config),
        "--target",
        "rpi4",
        "--per-family",
        "1",
        "--only",
        "pool_fc",
        "--layers",
        "1",
        "--refine",
        "0",
        "--runs",
        "2",
        "--out",
        str(out),
        "--quiet",
        cwd=tmp_path,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr
    calibration = json.loads(out.read_text())
    assert calibration["device"] == "rpi4" and calibration["machine"].startswith("aarch64")
    assert calibration["threads"] == 4 and calibration["fit"]["models"] == 4  # (1 pool_fc + 1 real layer) x 2 dtypes
    model = next((tmp_path / ".edgedistill-cache" / "calibrate" / "kernels").glob("*_int8.tflite"))
    estimate = run_cli("estimate", str(model), "--target", "rpi4", "--calibration", str(out), "--json", cwd=tmp_path)
    assert estimate.returncode == 0, estimate.stderr
    assert json.loads(estimate.stdout)["device"] == "rpi4"
