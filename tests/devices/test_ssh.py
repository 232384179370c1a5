"""SSH transport and `edgedistill bench` against a real sshd in its own network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edgedistill.devices.ssh import SSHTransport
from edgedistill.errors import EdgeDistillError
from tests.conftest import run_cli


def _over_ssh(device) -> list[str]:
    """The options that reach the fast tier's device; its Python is this one (it has LiteRT)."""
    return ["--device", device.destination, "--ssh-config", str(device.ssh_config), "--device-python", sys.executable]


def test_push_run_pull_and_cleanup(x86_ssh_device, tmp_path):
    src = tmp_path / "weird name $(touch pwned).txt"
    src.write_text("payload")
    t = SSHTransport(x86_ssh_device.destination, ssh_config=x86_ssh_device.ssh_config)
    remote = t.push(src, src.name)
    result = t.run(["cat", remote], timeout=60)
    assert (result.exit_code, result.stdout) == (0, "payload")
    assert t.run(["sh", "-c", "exit 7"], timeout=60).exit_code == 7
    quoted = t.run(["echo", "a;b", "$HOME", "`id`"], timeout=60)  # arguments arrive verbatim, never interpreted
    assert quoted.stdout.strip() == "a;b $HOME `id`"
    t.pull(remote, tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_text() == "payload"
    workdir = t.workdir
    t.close()
    assert t.run(["test", "-e", workdir], timeout=60).exit_code == 1
    assert not list(tmp_path.glob("pwned")) and t.run(["test", "-e", "pwned"], timeout=60).exit_code == 1


def test_unknown_host_key_is_refused(x86_ssh_device):
    (x86_ssh_device.workdir / "known_hosts").write_text("")
    t = SSHTransport(x86_ssh_device.destination, ssh_config=x86_ssh_device.ssh_config)
    with pytest.raises(EdgeDistillError, match="testdevice: host key verification failed"):
        t.run(["true"], timeout=60)


def test_failed_auth_is_one_clear_error(x86_ssh_device):
    (x86_ssh_device.rootfs or x86_ssh_device.workdir / "sshd").joinpath("authorized_keys").write_text("")
    t = SSHTransport(x86_ssh_device.destination, ssh_config=x86_ssh_device.ssh_config)
    with pytest.raises(EdgeDistillError, match="testdevice: authentication failed"):
        t.run(["true"], timeout=60)


def test_bench_on_a_device_that_refuses_auth_is_one_line(x86_ssh_device, built_project, tmp_path):
    (x86_ssh_device.rootfs or x86_ssh_device.workdir / "sshd").joinpath("authorized_keys").write_text("")
    proc = run_cli(
        "bench",
        str(built_project.out / "model_int8.tflite"),
        "--device",
        x86_ssh_device.destination,
        "--ssh-config",
        str(x86_ssh_device.ssh_config),
        "--runs",
        "2",
        cwd=tmp_path,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines == ["error: testdevice: authentication failed (permission denied)"], (
        proc.stderr
    )


def test_bench_cli_over_ssh_matches_host_outputs(x86_ssh_device, built_project, tmp_path):
    model = built_project.out / "model_int8.tflite"
    q = np.random.default_rng(0).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    np.save(tmp_path / "in.npy", q)
    common = [
        "bench",
        str(model),
        "--target",
        "rpi4",
        "--threads",
        "1",
        "--runs",
        "5",
        "--warmup",
        "1",
        "--rounds",
        "2",
        "--json",
        "--input",
        str(tmp_path / "in.npy"),
    ]
    remote = run_cli(
        *common,
        *_over_ssh(x86_ssh_device),
        cwd=tmp_path,  # the fast tier's "device" is this host: use a Python with LiteRT
    )
    assert remote.returncode == 0, remote.stderr
    local = run_cli(*common, "--device", "local", cwd=tmp_path)
    r, h = json.loads(remote.stdout), json.loads(local.stdout)
    assert r["runs"] == 5 and r["rounds"] == 2 and len(r["round_medians_ms"]) == 2 and len(r["samples_ms"]) == 10
    assert r["device"] == "testdevice" and r["peak_rss_kb"] > 0 and r["xnnpack"] is True
    assert r["outputs"] == h["outputs"]


def test_unreachable_device_is_one_line(tmp_path, built_project):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host deadhost\n  HostName 127.0.0.1\n  Port 1\n  StrictHostKeyChecking yes\n")
    proc = run_cli(
        "bench",
        str(built_project.out / "model_int8.tflite"),
        "--device",
        "deadhost",
        "--ssh-config",
        str(cfg),
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and proc.stderr.strip() == "error: deadhost: connection refused (is sshd running?)"


def test_device_stopping_mid_run_fails_within_the_timeout(x86_ssh_device, built_project, tmp_path):
    model = built_project.out / "model_int8.tflite"
    threading.Timer(4.0, x86_ssh_device.stop_sshd).start()
    start = time.monotonic()
    proc = run_cli(
        "bench",
        str(model),
        *_over_ssh(x86_ssh_device),
        "--threads",
        "1",
        "--runs",
        "100000",
        "--pause-ms",
        "1",
        "--timeout",
        "60",
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - start
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: testdevice:"), proc.stderr
    assert elapsed < 60


def test_missing_runtime_on_the_device_is_named(x86_ssh_device, built_project, tmp_path):
    bare = "/usr/bin/python3"
    if subprocess.run([bare, "-c", "import ai_edge_litert"], capture_output=True).returncode == 0:
        pytest.skip("the system python3 here has LiteRT installed")
    proc = run_cli(
        "bench",
        str(built_project.out / "model_int8.tflite"),
        "--device",
        x86_ssh_device.destination,
        "--ssh-config",
        str(x86_ssh_device.ssh_config),
        "--device-python",
        bare,
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "numpy is missing on the device" in proc.stderr or "no TFLite runtime found" in proc.stderr


def test_a_budget_build_measures_its_candidates_on_the_device(x86_ssh_device, tmp_path):
    """Device in the loop: with --device, the candidates' latency is measured there rather than estimated
    (no calibration needed), and a size budget rejects the wide students before any training."""
    (tmp_path / "edgedistill.yaml").write_text(
        "name: budget-device\nteacher: {bundled: mnist-resnet8}\ndata: {bundled: mnist}\n"
        "distillation: {epochs: 2, baseline: false}\nprune: {ratio: 0.5, finetune_epochs: 1}\nbenchmark: {runs: 20, rounds: 1}\n"
        "export: {formats: [tflite_int8]}\nsearch: {widths: [0.5, 2], input_scales: [1], prune_ratios: [0.5]}\n"
    )
    proc = run_cli(
        "build",
        "--target",
        "rpi4",
        "--budget",
        "size=40KB",
        *_over_ssh(x86_ssh_device),
        "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "build" / "rpi4" / "report.json").read_text())
    search = report["budget"]
    assert search["costed_by"].startswith("measured on testdevice") and search["latency_margin"] == 0.0
    assert all(c["latency_source"] == "device" and c["latency_ms"] > 0 for c in search["candidates"])
    over = [c for c in search["candidates"] if c["over"]]
    assert over and all(c["size_bytes"] > 40e3 and "size_bytes" in c["over"] for c in over)
    assert all(c["val_accuracy"] is None for c in over)  # nothing over budget is trained
    chosen = next(c for c in search["candidates"] if c["chosen"])
    shipped = report["artifacts"]["tflite_int8"]["size_bytes"]
    assert shipped == chosen["size_bytes"] <= 40e3  # the candidate's file stands for the trained student's
