from __future__ import annotations

import json

import numpy as np
import pytest

from edgedistill.benchmarks.latency.estimate import estimate_kernels
from edgedistill.benchmarks.latency.kernels import Kernel
from edgedistill.benchmarks.latency.predictor import (
    Calibration,
    HeldOutError,
    fit_calibration,
    load_calibration,
    save_calibration,
)
from edgedistill.errors import EdgeDistillError

IDENTITY = dict(
    device="host",
    reached_by="local",
    machine="x86_64, test",
    runtime="ai_edge_litert",
    runtime_version="2.3.0",
    threads=1,
    source="test",
)
TRUE_MS = {  # in FEATURES order: an ADD has only a dispatch and its bytes
    "CONV_2D/int8": [0.01, 0.03, 0.0, 0.001, 0.0, 0.002, 0.02],
    "ADD/int8": [0.005, 0.0, 0.0004, 0.0002, 0.0, 0.0, 0.0],
}


def _kernel(op: str, rng: np.random.Generator) -> Kernel:
    macs = int(rng.integers(1e4, 5e7)) if op == "CONV_2D" else 0
    size = int(rng.integers(1e3, 5e5))
    channels = int(rng.choice([8, 16, 24, 40]))  # tiles full and part empty
    return Kernel(0, op, "int8", (1, 8, 8, channels), macs or size, size, int(rng.integers(1e3, 5e5)), macs // 1000)


def _true_latency(kernels: list[Kernel], overhead: float = 0.02) -> float:
    return overhead + sum(float(np.dot(TRUE_MS[k.key], k.features())) for k in kernels)


def test_the_fit_recovers_each_kernels_costs_from_models_holding_several_kernels():
    rng = np.random.default_rng(0)
    models = [[_kernel(op, rng) for op in rng.choice(["CONV_2D", "ADD"], int(rng.integers(1, 4)))] for _ in range(60)]
    calibration = fit_calibration(models, [_true_latency(m) for m in models], **IDENTITY)
    held_out = [[_kernel("CONV_2D", rng), _kernel("ADD", rng), _kernel("CONV_2D", rng)] for _ in range(10)]
    for m in held_out:
        assert calibration.predict(m) == pytest.approx(_true_latency(m), rel=0.01)
    assert calibration.fit["models"] == 60 and calibration.fit["max_abs_error"] < 0.01
    assert all(c >= 0 for fit in calibration.kernels.values() for c in fit.coef_ms)


def test_an_uncalibrated_kernel_is_costed_as_add_and_says_so():
    rng = np.random.default_rng(0)
    models = [[_kernel("ADD", rng)] for _ in range(10)]
    calibration = fit_calibration(models, [_true_latency(m) for m in models], **IDENTITY)
    pad = Kernel(0, "PAD", "int8", (1, 4), 1000, 1000, 1000, 0)
    ms, how = calibration.predict_kernel(pad)
    assert ms > 0 and how == "not calibrated: costed as ADD/int8"


def test_an_uncalibrated_variant_is_costed_as_its_op_before_any_other_op():
    rng = np.random.default_rng(0)
    models = [[_kernel("ADD", rng)] for _ in range(10)]
    models += [[Kernel(0, "PAD", "int8", (1, 4, 4, 8), 128, 128, 200, 0)] for _ in range(3)]
    calibration = fit_calibration(models, [0.01 + 0.001 * i for i in range(len(models))], **IDENTITY)
    folded = Kernel(0, "PAD", "int8", (1, 4, 4, 8), 128, 128, 200, 0, variant="folded")
    assert folded.key == "PAD.folded/int8"
    assert calibration.predict_kernel(folded)[1] == "not calibrated: costed as PAD/int8"


def test_the_held_out_error_gives_the_margin_that_covers_nine_in_ten_models():
    # predicted / measured - 1: one model under-predicted by half (measured 2x the estimate), the rest within 5%
    errors = [-0.5] + [-0.05 + 0.01 * i for i in range(11)]
    held = HeldOutError.of("test", [f"m{i}" for i in range(12)], errors)
    under = sorted(1 / (1 + e) - 1 for e in errors)  # measured / predicted - 1
    assert held.margin() == round(under[-2], 4)  # 11 of 12 (at least 90%) within it; not the outlier
    assert held.summary() == {"median": -0.005, "p90_abs": pytest.approx(0.05, abs=1e-3), "worst": -0.5}
    assert HeldOutError.of("over-predicted", ["a", "b"], [0.2, 0.3]).margin() == 0.0


def test_an_estimate_states_the_share_that_comes_from_uncalibrated_kernels():
    rng = np.random.default_rng(0)
    models = [[_kernel("ADD", rng)] for _ in range(10)]
    calibration = fit_calibration(models, [_true_latency(m) for m in models], **IDENTITY)
    add, pad = _kernel("ADD", rng), Kernel(1, "PAD", "int8", (1, 4), 1000, 1000, 1000, 0)
    mixed = estimate_kernels("m", [add, pad], calibration)
    pad_ms = calibration.predict_kernel(pad)[0]
    assert mixed.uncalibrated_share == pytest.approx(pad_ms / mixed.total_ms) and 0 < mixed.uncalibrated_share < 1
    assert mixed.to_dict()["uncalibrated_kernels"] == ["PAD/int8"]
    assert estimate_kernels("m", [add], calibration).uncalibrated_share == 0.0


def _saved(tmp_path) -> tuple[Calibration, object]:
    rng = np.random.default_rng(0)
    models = [[_kernel("ADD", rng)] for _ in range(5)]
    calibration = fit_calibration(models, [_true_latency(m) for m in models], **IDENTITY)
    path = tmp_path / "host.json"
    save_calibration(calibration, path)
    return calibration, path


def test_a_calibration_file_round_trips_and_names_what_it_is_valid_for(tmp_path):
    calibration, path = _saved(tmp_path)
    loaded = load_calibration(path)
    assert loaded == calibration and loaded.threads == 1 and loaded.runtime_version == "2.3.0" and loaded.date
    loaded.check(path, threads=1, runtime_version="2.3.0")
    with pytest.raises(EdgeDistillError, match="calibrated with 1 threads, not 4"):
        loaded.check(path, threads=4)
    with pytest.raises(EdgeDistillError, match="calibrated on ai_edge_litert 2.3.0, not 2.4.0"):
        loaded.check(path, runtime_version="2.4.0")


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not a JSON calibration file"),
        ('{"format": "something else"}', "not an edgedistill latency calibration"),
        ('{"format": "edgedistill-latency-calibration/1"}', "from another edgedistill.*run `edgedistill calibrate`"),
        (None, "threads: Input should be a valid integer"),
    ],
)
def test_a_bad_calibration_file_is_one_line_naming_the_file(tmp_path, text, message):
    _, path = _saved(tmp_path)
    if text is None:
        data = json.loads(path.read_text())
        data["threads"] = "four"
        text = json.dumps(data)
    path.write_text(text)
    with pytest.raises(EdgeDistillError, match=message) as err:
        load_calibration(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
