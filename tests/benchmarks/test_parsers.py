from __future__ import annotations

import pytest

from edgedistill.benchmarks.parsers import parse_benchmark_model

# the shape of TFLite benchmark_model's output (2.x), as printed on a phone
SAMPLE = """\
INFO: Num runs: [50]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/model_int8.tflite]
INFO: Loaded model /data/local/tmp/model_int8.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Initialized session in 3.217ms.
INFO: Running benchmark for at least 10 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=2931 first=611 curr=152 min=141 max=1033 avg=168.4 std=41

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=6210 first=160 curr=150 min=139 max=790 avg=157.25 std=22

INFO: Inference timings in us: Init: 3217, First inference: 611, Warmup (avg): 168.4, Inference (avg): 157.25
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=2.625 overall=3.1875
INFO: Overall peak memory footprint (MB) via periodic monitoring: 9.45312
"""


def test_parses_every_number_into_the_runner_schema():
    r = parse_benchmark_model(SAMPLE, model="model_int8.tflite", model_bytes=55712)
    assert r["tool"] == "benchmark_model" and r["threads"] == 4 and r["xnnpack"] is True
    assert r["init_ms"] == pytest.approx(3.217) and r["first_inference_ms"] == pytest.approx(0.611)
    assert r["warmup_mean_ms"] == pytest.approx(0.1684) and r["warmup_runs"] == 2931
    assert r["runs"] == 6210
    assert r["latency_ms"]["mean"] == pytest.approx(0.15725) and r["latency_ms"]["min"] == pytest.approx(0.139)
    assert r["latency_ms"]["std"] == pytest.approx(0.022) and r["latency_ms"]["p99"] is None
    assert r["peak_rss_kb"] == int(9.45312 * 1024)
    assert r["memory_footprint_mb"] == {"init": 2.625, "overall": 3.1875}


def test_output_without_timings_is_refused_with_its_last_line():
    with pytest.raises(ValueError, match="printed no timings .*Failed to allocate tensors"):
        parse_benchmark_model("INFO: Loaded model m.tflite\nERROR: Failed to allocate tensors!\n", model="m.tflite")
