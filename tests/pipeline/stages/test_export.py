from __future__ import annotations

from edgedistill.pipeline.config import ExportConfig, QuantizationConfig
from edgedistill.pipeline.stages import run_stage
from edgedistill.pipeline.stages.export import ExportStage
from edgedistill.progress import quiet


def _int8(distilled, **quantization):
    data, _, cache, student = distilled
    q = QuantizationConfig(calibration_samples=64, **quantization)
    out = run_stage(ExportStage(student, data, ExportConfig(formats=["tflite_int8"]), q, quiet()), cache)
    return out, out.result.artifacts["tflite_int8"]


def test_ptq_within_tolerance_on_validation_keeps_the_histogram_ranges(distilled):
    out, int8 = _int8(distilled, tolerance_points=100.0)
    ptq, val = int8.ptq, int8.val
    assert ptq is not None and val is not None
    assert ptq.kept == ptq.activation_ranges == "histogram" and list(ptq.val_accuracy) == ["histogram"]
    assert not ptq.equalized and ptq.equalization is None  # never tried
    assert val.accuracy == ptq.val_accuracy["histogram"] > 80
    assert sorted(p.name for p in out.folder.iterdir() if p.suffix == ".tflite") == ["model_int8.tflite"]


def test_a_drop_past_tolerance_tries_every_fix_and_keeps_the_best_on_validation(distilled, monkeypatch):
    monkeypatch.setattr(ExportStage, "_fp32_val_accuracy", lambda self: 100.0)  # every try falls short of this
    out, int8 = _int8(distilled, tolerance_points=0.0)
    ptq, val = int8.ptq, int8.val
    assert ptq is not None and val is not None
    tried = ptq.val_accuracy
    assert list(tried) == [
        "histogram",
        "histogram+equalized",
        "minmax",
        "minmax+equalized",
        "moving_average",
        "moving_average+equalized",
    ]
    assert tried[ptq.kept] == max(tried.values()) == val.accuracy
    assert ptq.equalized == ptq.kept.endswith("+equalized") and ptq.equalization and ptq.equalization["pairs"] > 0
    assert sorted(p.name for p in out.folder.iterdir() if p.suffix == ".tflite") == ["model_int8.tflite"]


def test_a_fixed_choice_is_the_only_one_made(distilled):
    _, int8 = _int8(distilled, activation_ranges="minmax", equalization="off", tolerance_points=0.0)
    assert int8.ptq and list(int8.ptq.val_accuracy) == ["minmax"]
    _, int8 = _int8(distilled, activation_ranges="minmax", equalization="on", tolerance_points=0.0)
    assert int8.ptq and list(int8.ptq.val_accuracy) == ["minmax+equalized"] and int8.ptq.equalized


def test_equalization_on_quantizes_onnx_from_the_equalized_student(distilled):
    data, _, cache, student = distilled
    q = QuantizationConfig(calibration_samples=64, onnx_calibration="minmax", equalization="on")
    out = run_stage(ExportStage(student, data, ExportConfig(formats=["onnx_int8"]), q, quiet()), cache)
    cal = out.result.artifacts["onnx_int8"].calibration
    assert cal and cal.method == "minmax" and cal.equalized and list(cal.candidates or {}) == ["minmax+equalized"]
    assert cal.equalization and cal.equalization["pairs"] > 0 and cal.candidates
    assert cal.candidates["minmax+equalized"].val_accuracy > 80
    assert sorted(p.name for p in out.folder.iterdir() if p.suffix == ".onnx") == ["model_int8.onnx"]
