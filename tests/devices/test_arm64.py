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
    args = ["bench", str(model), "--target", "rpi4", "--runs", "5", "--warmup", "2", "--rounds", "2", "--json", "--input", str(tmp_path / "in.npy")]
    device = run_cli(*args, "--device", arm64_ssh_device.destination, "--ssh-config", str(arm64_ssh_device.ssh_config), "--timeout", "300", cwd=tmp_path)
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
