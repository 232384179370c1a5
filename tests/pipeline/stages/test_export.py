from __future__ import annotations

from edgedistill.pipeline.config import ExportConfig, QuantizationConfig
from edgedistill.pipeline.stages import run_stage
from edgedistill.pipeline.stages.export import ExportStage
from edgedistill.progress import quiet


def _int8(distilled, **quantization):
    data, _, cache, student = distilled
    q = QuantizationConfig(calibration_samples=64, **quantization)
    out = run_stage(ExportStage(student, data, ExportConfig(formats=["tflite_int8"]), q, quiet()), cache)
    return out, out.meta["artifacts"]["tflite_int8"]


def test_ptq_within_tolerance_on_validation_keeps_the_histogram_ranges(distilled):
    out, int8 = _int8(distilled, tolerance_points=100.0)
    assert int8["activation_ranges"]["method"] == "histogram" and list(int8["activation_ranges"]["val_accuracy"]) == [
        "histogram"
    ]
    assert int8["val"]["accuracy"] == int8["activation_ranges"]["val_accuracy"]["histogram"] > 80
    assert sorted(p.name for p in out.folder.iterdir() if p.suffix == ".tflite") == ["model_int8.tflite"]


def test_a_drop_past_tolerance_tries_every_range_and_keeps_the_best_on_validation(distilled, monkeypatch):
    monkeypatch.setattr(ExportStage, "_fp32_val_accuracy", lambda self: 100.0)  # every range falls short of this
    _, int8 = _int8(distilled, tolerance_points=0.0)
    tried = int8["activation_ranges"]["val_accuracy"]
    assert list(tried) == ["histogram", "minmax", "moving_average"]
    assert tried[int8["activation_ranges"]["method"]] == max(tried.values()) == int8["val"]["accuracy"]


def test_a_fixed_choice_is_the_only_one_made(distilled):
    _, int8 = _int8(distilled, activation_ranges="minmax", tolerance_points=0.0)
    assert list(int8["activation_ranges"]["val_accuracy"]) == ["minmax"]
