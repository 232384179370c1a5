"""The adb transport and `edgedistill bench --device adb:SERIAL` through the real adb client."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edgedistill.devices.adb import AdbTransport
from edgedistill.errors import EdgeDistillError
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
    args = [
        "bench",
        str(model),
        "--target",
        "rpi4",
        "--runs",
        "4",
        "--warmup",
        "1",
        "--json",
        "--input",
        str(tmp_path / "in.npy"),
    ]
    device = run_cli(*args, "--device", f"adb:{adb_env.serial}", "--timeout", "300", cwd=tmp_path, env=adb_env.env)
    assert device.returncode == 0, device.stderr
    host = run_cli(*args, "--device", "local", cwd=tmp_path)
    d, h = json.loads(device.stdout), json.loads(host.stdout)
    assert d["machine"] == "aarch64" and set(d) == set(h)
    assert np.abs(np.array(d["outputs"]) - np.array(h["outputs"])).max() <= 1


def test_bench_with_benchmark_model_on_a_phone_profile(adb_env, built_project, tmp_path):
    """Phones have no Python: the android profiles push and run benchmark_model and parse it."""
    from tests.devices.testbed.adb_device import STANDIN

    proc = run_cli(
        "bench",
        str(built_project.out / "model_int8.tflite"),
        "--target",
        "android-arm64",
        "--device",
        f"adb:{adb_env.serial}",
        "--benchmark-model",
        str(STANDIN),
        "--runs",
        "6",
        "--warmup",
        "2",
        "--json",
        "--timeout",
        "300",
        cwd=tmp_path,
        env=adb_env.env,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["tool"] == "benchmark_model" and r["runs"] == 6 and r["warmup_runs"] == 2 and r["threads"] == 4
    assert (
        r["init_ms"] > 0 and r["first_inference_ms"] > 0 and r["latency_ms"]["mean"] > 0 and r["latency_ms"]["std"] >= 0
    )
    assert r["peak_rss_kb"] > 0 and r["xnnpack"] is True


def test_benchmark_model_pinned_with_taskset(adb_env, built_project):
    from edgedistill.benchmarks.harness import run_benchmark_model
    from tests.devices.testbed.adb_device import STANDIN

    with AdbTransport(adb_env.serial) as t:
        r = run_benchmark_model(
            t, built_project.out / "model_int8.tflite", STANDIN, threads=1, runs=3, warmup=1, cpu_mask="1", timeout=300
        )
        assert r.runs == 3
        with pytest.raises(EdgeDistillError, match="benchmark_model failed on the device"):
            run_benchmark_model(t, built_project.out / "model.onnx", STANDIN, threads=1, runs=1, warmup=1, timeout=300)


def test_device_going_away_mid_run_is_one_line_within_the_timeout(adb_env, built_project, tmp_path):
    import threading
    import time

    threading.Timer(8.0, adb_env.stop_adbd).start()
    start = time.monotonic()
    proc = run_cli(
        "bench",
        str(built_project.out / "model_int8.tflite"),
        "--device",
        f"adb:{adb_env.serial}",
        "--threads",
        "1",
        "--runs",
        "100000",
        "--pause-ms",
        "1",
        "--timeout",
        "90",
        cwd=tmp_path,
        env=adb_env.env,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert time.monotonic() - start < 90
