from __future__ import annotations

from edgedistill.contracts import Int8Drop
from edgedistill.pipeline.report.manifest import recommend

WITHIN = Int8Drop(points=0.4, against="tflite_fp32", tolerance_points=1.0, past_tolerance=False)
PAST = Int8Drop(points=3.1, against="the fp32 student (PyTorch)", tolerance_points=1.0, past_tolerance=True)


def test_int8_within_tolerance_is_recommended_with_its_drop():
    model, why = (
        (r := recommend(["onnx", "tflite_fp32", "tflite_int8"], WITHIN, "PTQ: within tolerance")).model,
        r.because,
    )
    assert model == "tflite_int8" and "0.40 points below fp32" in why and "PTQ" in why


def test_int8_past_tolerance_is_not_recommended_and_the_reason_says_by_how_much():
    model, why = (
        (r := recommend(["onnx", "tflite_fp32", "tflite_fp16", "tflite_int8"], PAST, "QAT: mode qat")).model,
        r.because,
    )
    assert model == "tflite_fp16"  # the smallest float model shipped
    assert "3.10 points below the fp32 student" in why and "tolerance of 1" in why and "QAT" in why


def test_int8_past_tolerance_with_nothing_else_shipped_stays_but_says_so():
    model, why = (r := recommend(["tflite_int8"], PAST)).model, r.because
    assert model == "tflite_int8" and "no float model was exported" in why and "tflite_fp16" in why


def test_without_int8_the_first_format_is_recommended():
    assert recommend(["onnx", "tflite_fp32"], None).model == "onnx"
