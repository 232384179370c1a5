"""The adb transport and `edgedistill bench --device adb:SERIAL` through the real adb client."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edgedistill.devices.adb import AdbTransport
from edgedistill.pipeline.errors import EdgeDistillError
from tests.conftest import run_cli


@pytest.fixture
def adb_env(adb_device, monkeypatch):
    for key, value in adb_device.env.items():
        monkeypatch.setenv(key, value)
    return adb_device


def test_push_run_pull_and_cleanup(adb_env, tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(200_000))  # several sync DATA chunks and WRTE messages
    t = AdbTransport(adb_env.serial)
    remote = t.push(src, "in.bin")
    assert remote.startswith("/data/local/tmp/edgedistill.")
    assert t.run(["uname", "-m"], timeout=120).stdout.strip() == "aarch64"
    result = t.run(["sh", "-c", "echo out; echo err >&2; exit 5"], timeout=120)
    assert (result.exit_code, result.stdout.strip(), result.stderr.strip()) == (5, "out", "err")
    assert t.run(["echo", "a;b", "$HOME"], timeout=120).stdout.strip() == "a;b $HOME"
    t.pull(remote, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    workdir = t.workdir
    t.close()
    assert not (adb_env.rootfs / workdir.lstrip("/")).exists()


def test_unknown_serial_is_one_clear_error(adb_env, tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(EdgeDistillError, match=r"adb:127.0.0.1:1: .*(not found|cannot connect|no device)"):
        AdbTransport("127.0.0.1:1").push(tmp_path / "x.txt", "x.txt")


def test_bench_with_python_on_the_adb_device_matches_the_host(adb_env, built_project, tmp_path):
    model = built_project.out / "model_int8.tflite"
    q = np.random.default_rng(2).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    np.save(tmp_path / "in.npy", q)
    args = ["bench", str(model), "--target", "rpi4", "--runs", "4", "--warmup", "1", "--json", "--input", str(tmp_path / "in.npy")]
    device = run_cli(*args, "--device", f"adb:{adb_env.serial}", "--timeout", "300", cwd=tmp_path, env=adb_env.env)
    assert device.returncode == 0, device.stderr
    host = run_cli(*args, "--device", "local", cwd=tmp_path)
    d, h = json.loads(device.stdout), json.loads(host.stdout)
    assert d["machine"] == "aarch64" and set(d) == set(h)
    assert np.abs(np.array(d["outputs"]) - np.array(h["outputs"])).max() <= 1
