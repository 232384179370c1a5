from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from edgedistill.benchmarks.latency.predictor import load_calibration
from edgedistill.errors import EdgeDistillError
from edgedistill.pipeline import budget as budget_module
from edgedistill.pipeline.budget import Budget, Candidate, no_fit_error, parse_budget, to_train
from edgedistill.pipeline.config import PruneConfig, SearchConfig, default_config, load_config
from tests.conftest import run_cli, write_config


def test_a_budget_reads_any_subset_of_its_keys_with_units():
    assert parse_budget("latency=15ms,size=1MB,ram=64MB") == Budget(15.0, 1e6, 64e6)
    assert parse_budget("size = 512KiB") == Budget(size_bytes=512 * 1024)
    assert parse_budget("latency=250us") == Budget(latency_ms=0.25)
    assert parse_budget("RAM=0.5GB, latency=1.5s") == Budget(1500.0, None, 0.5e9)


@pytest.mark.parametrize(
    "text, message",
    [
        ("speed=15ms", "'speed=15ms': expected KEY=VALUE with KEY one of latency, size, ram"),
        ("latency=15", "latency='15': expected a number and a unit (us, ms, s)"),
        ("latency=15 fortnights", "latency='15 fortnights': expected a number and a unit"),
        ("size=1MB,size=2MB", "size given twice"),
        ("latency=0ms", "must be above zero"),
    ],
)
def test_a_bad_budget_is_one_line(text, message):
    with pytest.raises(EdgeDistillError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        parse_budget(text)
    assert "\n" not in str(err.value) and str(err.value).startswith("--budget")


def _candidate(width: float, side: int, ms: float, over: dict | None = None) -> Candidate:
    return Candidate(
        name=f"s_w{width:g}_{side}",
        width=width,
        input_size=side,
        prune_ratio=0.0,
        params=int(width * 1000),
        latency_ms=ms,
        size_bytes=1000,
        ram_bytes=1000,
        latency_source="estimate",
        over=over or {},
    )


def test_the_proxy_trains_the_widest_fitting_candidates_at_each_input_size():
    candidates = [_candidate(w, s, w * s) for s in (28, 20) for w in (0.5, 1.0, 2.0)]
    candidates[2].over = {"latency_ms": 0.1}  # 2.0 at 28 is over budget
    trained = to_train(candidates)
    assert [c.name for c in trained] == ["s_w1_28", "s_w0.5_28", "s_w2_20", "s_w1_20"]
    assert candidates[3].not_trained == "a larger student at 20x20 fits the budget"


def test_the_search_space_is_the_configs(tmp_path):
    config = default_config()
    assert len(budget_module.propose(config, 28)) == 39  # the default: 7 widths, 3 of them pruned 2 ways, 3 sides
    narrow = config.model_copy(
        update={
            "search": SearchConfig(widths=[2.0, 0.5, 0.5], input_scales=[0.5], prune_ratios=[], pruned_from_width=1)
        }
    )
    assert budget_module.propose(narrow, 28) == [(0.5, 28, 0.0), (2.0, 28, 0.0), (0.5, 16, 0.0), (2.0, 16, 0.0)]
    with pytest.raises(EdgeDistillError, match=r"search\.prune_ratios\.0"):
        load_config(write_config(tmp_path, {**yaml.safe_load(PROJECT), "search": {"prune_ratios": [1.5]}}))


def test_pruned_candidates_are_costed_as_the_architecture_pruning_leaves(tmp_path):
    """Uniform structured pruning fixes each layer's channel count from the ratio alone, so an untrained
    student pruned at the ratio has the kernels and size of the trained one the build will prune."""
    config = default_config()
    config = config.model_copy(update={"search": SearchConfig(widths=[0.5, 1.0], input_scales=[1.0])})
    costed = budget_module.cost_candidates(
        config, (1, 28, 28), 10, Budget(size_bytes=40e3), tmp_path, lambda paths: ([1.0] * len(paths), "estimate")
    )
    by_name = {c.name: c for c in costed}
    assert list(by_name) == ["dscnn_w0.5_28", "dscnn_w1_28", "dscnn_w1_28_pruned0.3", "dscnn_w1_28_pruned0.5"]
    full, p3, p5 = by_name["dscnn_w1_28"], by_name["dscnn_w1_28_pruned0.3"], by_name["dscnn_w1_28_pruned0.5"]
    assert full.params > p3.params > p5.params and full.size_bytes > p3.size_bytes > p5.size_bytes
    assert p5.prune(finetune_epochs=2) == PruneConfig(ratio=0.5, finetune_epochs=2) and full.prune(2) is None
    assert all(("size_bytes" in c.over) == (c.size_bytes > 40e3) for c in costed)


def test_a_budget_no_candidate_meets_names_the_closest():
    candidates = [_candidate(1.0, 28, 2.0, {"latency_ms": 1.0}), _candidate(0.5, 28, 1.2, {"latency_ms": 0.2})]
    message = str(no_fit_error(Budget(latency_ms=1.0), candidates))
    assert "none of 2 candidate students fits; the closest is s_w0.5_28 (1.200 ms" in message
    assert "over by latency +20%" in message


@pytest.fixture(scope="module")
def host_calibration(tmp_path_factory):
    """The host calibrated as the device, with the threads the example's host benchmark uses (1: a second test
    worker shares the cores)."""
    folder = tmp_path_factory.mktemp("calibration")
    args = ["calibrate", "--device", "local", "--threads", "1", "--per-family", "1", "--runs", "20", "--dtype", "int8"]
    for family in ("conv", "stem", "depthwise", "pool_fc"):  # the kernels the candidates hold
        args += ["--only", family]
    args += ["--layers", "4", "--refine", "0"]  # refining is test_calibrate's: here it cost a second measurement
    proc = run_cli(*args, "--out", str(folder / "host.json"), "--quiet", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder / "host.json"


PROJECT = """\
name: budget-example
teacher: {bundled: mnist-resnet8}
data: {bundled: mnist}
distillation: {epochs: 2, baseline: false}
prune: {ratio: 0.5, finetune_epochs: 1}  # the search sets the ratio; the chosen student fine-tunes 1 epoch
benchmark: {threads: 1, runs: 200}
export: {formats: [tflite_int8]}
search: {widths: [0.5, 2], input_scales: [1, 0.5], prune_ratios: []}  # 4 candidates: pruned ones, test_ssh's
"""


def _budget_build(folder, calibration, budget: str):
    folder.mkdir(exist_ok=True)
    (folder / "edgedistill.yaml").write_text(PROJECT)
    return run_cli(
        "build", "--target", "rpi4", "--budget", budget, "--calibration", str(calibration), "--quiet", cwd=folder
    )


def interleaved_p50_ms(models: list[Path], rounds: int = 5) -> list[float]:
    """Each model's median p50 over rounds that alternate the models (1 thread), so whatever else runs on the
    host meanwhile slows them alike."""
    from edgedistill.benchmarks.harness import run_benchmark
    from edgedistill.devices.transport import LocalTransport

    p50s: dict[Path, list[float]] = {m: [] for m in models}
    with LocalTransport() as transport:
        for _ in range(rounds):
            for m in models:
                p50s[m].append(run_benchmark(transport, m, threads=1, runs=200, warmup=20).latency_ms.p50)
    return [statistics.median(p50s[m]) for m in models]


def test_a_budget_picks_a_student_within_it_and_a_tighter_one_a_smaller_student(host_calibration, tmp_path):
    """The tighter budget is 70% of the loose choice's estimate, raised where the margin from the calibration's
    held-out error leaves no candidate under it to just above what the smallest candidate needs (this module's
    small calibration, made while the other test worker loads the cores, once held out a 47% margin in CI: the
    smallest candidate, estimated at 49% of the loose choice, needed 72%). The choice's estimate must clear the
    budget by that margin. Measured, the tight choice must run within the same fraction of the loose choice's
    time, both timed in alternation: the absolute time is not compared with the budget, because the calibration
    and the measurement each share the 2 cores with whatever the other test worker runs then. In CI the tight
    choice, estimated at 0.034 ms, measured 0.064 ms (min over 3 rounds of 300 runs) while the other worker was
    busy."""
    loose = _budget_build(tmp_path / "p", host_calibration, "latency=1s")
    assert loose.returncode == 0, loose.stderr
    report = json.loads((tmp_path / "p" / "build" / "rpi4" / "report.json").read_text())
    search = report["budget"]
    loose_choice = next(c for c in search["candidates"] if c["chosen"])
    margin = load_calibration(host_calibration).held_out.margin()
    smallest_needs = min(c["latency_ms"] for c in search["candidates"]) * (1 + margin)
    fraction = max(0.7, 1.02 * smallest_needs / loose_choice["latency_ms"])
    assert fraction <= 0.85, f"the margin {margin:.0%} leaves no candidate far enough below the loose choice"
    limit = fraction * loose_choice["latency_ms"]
    loose_model = shutil.copy(tmp_path / "p" / "build" / "rpi4" / "model_int8.tflite", tmp_path / "loose.tflite")
    shutil.rmtree(tmp_path / "p" / "build")
    tight = _budget_build(tmp_path / "p", host_calibration, f"latency={limit * 1000:.3f}us")
    assert tight.returncode == 0, tight.stderr
    report = json.loads((tmp_path / "p" / "build" / "rpi4" / "report.json").read_text())
    choice = next(c for c in report["budget"]["candidates"] if c["chosen"])
    assert (
        report["budget"]["latency_margin"] == margin and "held-out error" in report["budget"]["latency_margin_source"]
    )
    assert choice["latency_ms"] * (1 + margin) <= limit < loose_choice["latency_ms"]  # it clears it by its margin
    assert choice["params"] < loose_choice["params"] or choice["input_size"] < loose_choice["input_size"]
    tight_ms, loose_ms = interleaved_p50_ms(
        [tmp_path / "p" / "build" / "rpi4" / "model_int8.tflite", Path(loose_model)]
    )
    assert tight_ms <= fraction * loose_ms, (
        fraction,
        tight_ms,
        loose_ms,
        choice["latency_ms"],
        loose_choice["latency_ms"],
    )
    assert report["student"]["arch"]["width"] == choice["width"]
    # the models table's estimate of the trained model is the candidate's: kernels do not depend on the weights
    assert report["artifacts"]["tflite_int8"]["estimate_ms"] == pytest.approx(choice["latency_ms"], rel=0.02)
    assert report["latency_estimate"]["calibration"] == str(host_calibration)
    html = (tmp_path / "p" / "build" / "rpi4" / "report.html").read_text()
    assert "Budget search" in html and f"{choice['name']} (chosen)" in html
    # every candidate is in the report: trained, over budget, or why not trained
    for c in report["budget"]["candidates"]:
        assert c["val_accuracy"] is not None or c["over"] or c["not_trained"]
    # a budget no candidate meets: one line naming the closest, nothing shipped
    shutil.rmtree(tmp_path / "p" / "build")
    none = _budget_build(tmp_path / "p", host_calibration, "latency=1us")
    assert none.returncode == 1 and len(none.stderr.strip().splitlines()) == 1
    assert "none of" in none.stderr and "the closest is" in none.stderr
    assert not (tmp_path / "p" / "build" / "rpi4").exists()


def test_a_bad_budget_or_calibration_fails_before_any_work(host_calibration, tmp_path):
    proc = _budget_build(tmp_path / "q", host_calibration, "latency=15ms,speed=2")
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: --budget: 'speed=2'")
    assert not (tmp_path / "q" / ".edgedistill-cache").exists()
    other = json.loads(host_calibration.read_text())
    other["threads"] = 2
    (tmp_path / "two-threads.json").write_text(json.dumps(other))
    proc = _budget_build(tmp_path / "q", tmp_path / "two-threads.json", "latency=15ms")
    assert proc.returncode == 1 and "calibrated with 2 threads, not 1" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    other["threads"], other["runtime_version"] = 1, "0.0.1"
    (tmp_path / "old.json").write_text(json.dumps(other))
    proc = _budget_build(tmp_path / "q", tmp_path / "old.json", "latency=15ms")
    assert proc.returncode == 1 and "calibrated on ai_edge_litert 0.0.1, not" in proc.stderr
