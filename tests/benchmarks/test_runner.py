from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgedistill.benchmarks.harness import RUNNER, run_benchmark, run_benchmarks
from edgedistill.benchmarks.latency.suite import KernelSpec, build_suite
from edgedistill.benchmarks.runner import peak_rss_kb, summarize
from edgedistill.devices.transport import LocalTransport
from edgedistill.errors import EdgeDistillError

KEYS = {
    "schema",
    "model",
    "model_bytes",
    "runtime",
    "runtime_version",
    "threads",
    "xnnpack",
    "init_ms",
    "first_inference_ms",
    "warmup_runs",
    "warmup_mean_ms",
    "runs",
    "latency_ms",
    "samples_ms",
    "peak_rss_kb",
    "machine",
    "python",
}


def test_summarize_matches_numpy():
    samples = list(np.random.default_rng(0).gamma(2.0, 1.0, 257))
    s = summarize(samples)
    for q in (50, 90, 99):
        assert s[f"p{q}"] == pytest.approx(np.percentile(samples, q))
    assert s["mean"] == pytest.approx(np.mean(samples)) and s["std"] == pytest.approx(np.std(samples))
    assert s["min"] == min(samples)
    with pytest.raises(ValueError):
        summarize([])


@pytest.mark.parametrize("artifact, runtime", [("model_int8.tflite", "ai_edge_litert"), ("model.onnx", "onnxruntime")])
def test_runner_reports_the_full_schema(built_project, artifact, runtime):
    with LocalTransport() as t:
        r = run_benchmark(t, built_project.out / artifact, threads=1, runs=12, warmup=2)
    assert KEYS <= set(r.model_dump(mode="json"))  # the runner printed them: RunnerResult refuses JSON without them
    assert r.runtime == runtime and r.runs == 12 and len(r.samples_ms) == 12 and r.threads == 1
    assert r.latency_ms.p50 == pytest.approx(summarize(r.samples_ms)["p50"])
    assert r.peak_rss_kb is not None and r.peak_rss_kb > 1000 and r.init_ms is not None and r.init_ms > 0
    if runtime == "ai_edge_litert":
        assert r.xnnpack is True


def test_runner_returns_outputs_for_a_given_input(built_project, tmp_path):
    """What a device run will use to compare its outputs with the host's."""
    from edgedistill.export.runtimes import TFLiteModel

    model = built_project.out / "model_int8.tflite"
    q = np.random.default_rng(0).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    np.save(tmp_path / "in.npy", q)
    proc = subprocess.run(
        [sys.executable, str(RUNNER), str(model), "--runs", "2", "--warmup", "0", "--input", str(tmp_path / "in.npy")],
        capture_output=True,
        text=True,
        check=True,
    )
    outputs = np.array(json.loads(proc.stdout)["outputs"][0])
    interp = TFLiteModel(model).interp
    interp.set_tensor(interp.get_input_details()[0]["index"], q)
    interp.invoke()
    assert np.array_equal(outputs, interp.get_tensor(interp.get_output_details()[0]["index"]))


def test_runner_failure_is_one_clear_error(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"TFL3 not really a model")
    with (
        LocalTransport() as t,
        pytest.raises(
            EdgeDistillError,
            match=r"broken.tflite: benchmark runner failed on the device \(exit [1-9]\): runner: .*not a valid Flatbuffer",
        ),
    ):
        run_benchmark(t, broken, threads=1, runs=1, warmup=0)
    proc = subprocess.run([sys.executable, str(RUNNER), str(tmp_path / "none.tflite")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_several_models_in_one_call_print_one_result_each_in_order(tmp_path):
    specs = [KernelSpec("add", 6, 8, 8, dtype="float32"), KernelSpec("conv", 6, 8, 16, dtype="int8")]
    paths = build_suite(specs, tmp_path / "kernels")
    with LocalTransport() as transport:
        results = run_benchmarks(transport, paths, threads=1, runs=3, warmup=1)
    assert [r.model for r in results] == [p.name for p in paths]
    assert all(r.runs == 3 and (r.latency_ms.p50 or 0) > 0 and r.cpu for r in results)
    # interleaved: every model loaded first, then each round times every model in turn
    with LocalTransport() as transport:
        mixed = run_benchmarks(transport, paths, threads=1, runs=2, warmup=1, rounds=4, interleave=True)
    assert [r.model for r in mixed] == [p.name for p in paths]
    assert all(r.rounds == 4 and len(r.round_medians_ms) == 4 and len(r.samples_ms) == 8 for r in mixed)


@pytest.mark.parametrize(
    ("system", "ru_maxrss", "kib"), [("darwin", 300 << 20, 300 << 10), ("linux", 300 << 10, 300 << 10)]
)
def test_peak_memory_is_in_kib_whatever_unit_the_system_reports(monkeypatch, tmp_path, system, ru_maxrss, kib):
    """Where /proc has no VmHWM, getrusage's ru_maxrss is the peak: bytes on macOS, KiB on Linux and the BSDs."""
    import resource

    monkeypatch.setattr(resource, "getrusage", lambda who: type("Usage", (), {"ru_maxrss": ru_maxrss})())
    assert peak_rss_kb(system, proc_status=str(tmp_path / "no-proc")) == kib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_memory_reads_vmhwm_where_proc_has_it():
    """This process's own VmHWM, and ru_maxrss (KiB on Linux) agrees with it within a page or two."""
    import resource

    peak = peak_rss_kb()
    assert peak is not None and abs(peak - resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) < 1024
