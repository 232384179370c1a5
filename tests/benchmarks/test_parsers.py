"""benchmark_model's output, as it has printed over the years, read into the runner's schema.

Every transcript is real output copied verbatim from public documentation; tests/benchmarks/transcripts/
PROVENANCE.md names where each came from (repository, path, commit) and what it shows. The TI and i.MX8 ones
keep their documents' code-block indent, which the parser tolerates as it tolerates the `INFO: ` prefix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgedistill.benchmarks.parsers import parse_benchmark_model

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def parse(name: str) -> dict:
    return parse_benchmark_model((TRANSCRIPTS / name).read_text(), model="m.tflite", model_bytes=1000)


def test_every_transcript_has_its_provenance():
    provenance = (TRANSCRIPTS / "PROVENANCE.md").read_text()
    named = set(re.findall(r"^## (\S+\.txt)$", provenance, re.MULTILINE))
    files = {p.name for p in TRANSCRIPTS.glob("*.txt")}
    assert files and named == files
    for section in provenance.split("\n## ")[1:]:
        if section.split("\n", 1)[0].endswith(".txt"):
            assert "- Source:" in section and re.search(r"[0-9a-f]{8,40}|https://", section), section[:200]


def test_tf_2_20_prefixed_with_percentiles_takes_the_timed_runs_median_not_the_warm_up():
    r = parse("ti_am62x_tf2_20_info_prefix_percentiles_cpu.txt")
    assert r["latency_ms"]["p50"] == pytest.approx(1239.807) and r["round_medians_ms"] == [pytest.approx(1239.807)]
    assert r["runs"] == 50 and r["warmup_runs"] == 1  # the warm-up line is the all-same form `count=1 curr=X p5=..`
    assert r["latency_ms"]["min"] == pytest.approx(1238.588) and r["latency_ms"]["std"] == pytest.approx(2.565)
    assert r["latency_ms"]["mean"] == pytest.approx(1240.27) and r["warmup_mean_ms"] == pytest.approx(1357.6)
    assert r["init_ms"] == pytest.approx(5.579) and r["first_inference_ms"] == pytest.approx(1357.602)
    assert r["memory_footprint_mb"] == {"init": 6.36328, "overall": 109.832}
    assert r["peak_rss_kb"] is None  # a footprint delta is not a peak: only periodic monitoring prints one
    assert r["threads"] is None and r["xnnpack"] is False  # no thread flag was given, so none was printed


def test_tf_2_20_with_xnnpack_and_no_blank_lines():
    r = parse("ti_am62x_tf2_20_info_prefix_percentiles_xnnpack.txt")
    assert r["xnnpack"] is True and r["latency_ms"]["p50"] == pytest.approx(899.281)
    assert r["warmup_runs"] == 1 and r["runs"] == 50 and r["init_ms"] == pytest.approx(614.333)


def test_tf_2_18_prefixed_without_percentiles_has_no_median_and_both_thread_lines():
    r = parse("ti_am62x_tf2_18_info_prefix_no_percentiles_xnnpack.txt")
    assert r["latency_ms"]["p50"] is None and r["round_medians_ms"] == []
    assert r["threads"] == 4 and r["xnnpack"] is True
    assert r["warmup_runs"] == 1 and r["runs"] == 50
    assert r["latency_ms"]["min"] == pytest.approx(568.228) and r["latency_ms"]["mean"] == pytest.approx(602.943)
    cpu = parse("ti_am62x_tf2_18_info_prefix_no_percentiles_cpu.txt")
    assert cpu["xnnpack"] is False and cpu["latency_ms"]["mean"] == pytest.approx(971.535)
    assert cpu["memory_footprint_mb"] == {"init": 6.14844, "overall": 109.848}


def test_tf_2_8_unprefixed_with_op_profiling_reads_the_benchmarks_runs_not_the_profilers():
    r = parse("meta_tflite_tf2_8_riscv64_no_prefix_delta_memory_op_profiling.txt")
    assert r["runs"] == 50 and r["warmup_runs"] == 1  # not the profiler's `Timings (microseconds): count=` lines
    assert r["latency_ms"]["min"] == pytest.approx(2727.568) and r["latency_ms"]["std"] == pytest.approx(109.798)
    assert r["latency_ms"]["mean"] == pytest.approx(2950.34) and r["warmup_mean_ms"] == pytest.approx(3512.39)
    assert r["threads"] == 4 and r["memory_footprint_mb"] == {"init": 4.21094, "overall": 46.0859}


def test_tf_2_3_unprefixed_with_the_old_peak_memory_line():
    r = parse("imx8_snap_tf2_3_no_prefix_peak_memory_cpu.txt")
    assert r["warmup_runs"] == 3 and r["runs"] == 50
    assert r["latency_ms"]["min"] == pytest.approx(209.739) and r["latency_ms"]["mean"] == pytest.approx(210.028)
    assert r["memory_footprint_mb"] == {"init": 0.0, "overall": 0.0} and r["peak_rss_kb"] is None
    nnapi = parse("imx8_snap_tf2_3_no_prefix_peak_memory_nnapi.txt")  # mixed: the runtime's lines are prefixed
    assert nnapi["warmup_runs"] == 1 and nnapi["runs"] == 260
    assert nnapi["warmup_mean_ms"] == pytest.approx(11403.9) and nnapi["latency_ms"]["min"] == pytest.approx(3.7)
    assert nnapi["memory_footprint_mb"] == {"init": 0.0, "overall": 15.3438}


def test_a_trimmed_tf_2_4_transcript_with_only_the_timed_runs():
    r = parse("yolov5s_android_tf2_4_no_prefix_peak_memory_cpu.txt")
    assert r["runs"] == 50 and r["warmup_runs"] is None
    assert r["first_inference_ms"] == pytest.approx(360.262) and r["latency_ms"]["mean"] == pytest.approx(249.684)
    assert r["memory_footprint_mb"] == {"init": 4.92969, "overall": 138.809}


def test_the_pre_2_3_summary_gives_init_warm_up_and_mean():
    r = parse("tf_readme_op_profiling_old_average_timings.txt")
    assert r["init_ms"] == pytest.approx(38.467) and r["warmup_mean_ms"] == pytest.approx(83.235)
    assert r["latency_ms"]["mean"] == pytest.approx(79.7609) and r["first_inference_ms"] is None
    assert r["runs"] is None and r["latency_ms"]["min"] is None  # its only count= line is the profiler's


def test_periodic_monitoring_is_the_peak():
    text = (TRANSCRIPTS / "ti_am62x_tf2_20_info_prefix_percentiles_cpu.txt").read_text()
    # the line --report_peak_memory_footprint adds, as LiteRT's benchmark_model.cc prints it
    r = parse_benchmark_model(
        text + "INFO: Overall peak memory footprint (MB) via periodic monitoring: 9.45312\n", model="m.tflite"
    )
    assert r["peak_rss_kb"] == int(9.45312 * 1024)


def test_a_failed_run_is_refused_with_its_last_line():
    with pytest.raises(ValueError, match=r"printed no timings \(Benchmarking failed\.\)"):
        parse("yolov5s_android_tf2_4_no_prefix_nnapi_failure.txt")
