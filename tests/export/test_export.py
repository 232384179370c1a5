from __future__ import annotations

import numpy as np
import pytest
import torch

from edgedistill.contracts import StudentArch
from edgedistill.errors import GateError
from edgedistill.export.inspect_tflite import float_ops, io_details, op_counts
from edgedistill.export.onnx_export import export_onnx
from edgedistill.export.runtimes import OnnxModel, TFLiteModel, dequantize, quantize
from edgedistill.export.tflite_export import export_tflite_int8
from edgedistill.pipeline.stages.verify import int8_gate
from edgedistill.students import STUDENTS, build_student


def test_fp32_tflite_fails_the_int8_gate_naming_its_ops(built_project):
    path = built_project.out / "model_fp32.tflite"
    ops = float_ops(path)
    assert ops and {"CONV_2D", "FULLY_CONNECTED"} <= {op.op for op in ops}
    # each op is named with the PyTorch module it came from
    with pytest.raises(
        GateError,
        match=r"model_fp32.tflite: int8 gate failed, \d+ op\(s\) compute in float: #0 PAD in features\.0\.0; #1 \w+ in features\.",
    ):
        int8_gate(path)


def test_int8_tflite_is_integer_end_to_end(built_project):
    path = built_project.out / "model_int8.tflite"
    assert float_ops(path) == []
    int8_gate(path)
    io = io_details(path)
    (inp,), (out,) = io["inputs"], io["outputs"]
    assert inp["dtype"] == out["dtype"] == "int8" and inp["shape"] == [1, 8, 8, 1] and inp["scale"] > 0
    assert "DELEGATE" not in op_counts(path)  # the gate reads the model's own graph


def test_runtimes_agree_with_pytorch(built_project, digits_npz):
    from edgedistill.pipeline.config import DataConfig
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.data.transforms import preprocess
    from edgedistill.pipeline.student import build_from_arch

    model = build_from_arch(StudentArch.model_validate(built_project.report["student"]["arch"]))
    model.load_state_dict(torch.load(built_project.out / "student.pt", weights_only=True))
    data = load_data(DataConfig(npz=digits_npz))
    x = preprocess(data.test.x[:16], data)  # real images, in the calibration distribution
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(OnnxModel(built_project.out / "model.onnx").predict(x), ref, atol=1e-4)
    assert np.allclose(TFLiteModel(built_project.out / "model_fp32.tflite").predict(x), ref, atol=1e-3)
    int8 = TFLiteModel(built_project.out / "model_int8.tflite").predict(x)
    assert int8.shape == ref.shape and np.abs(int8 - ref).max() < 0.2 * np.abs(ref).max()
    assert (int8.argmax(1) == ref.argmax(1)).mean() >= 0.8


def test_quantize_roundtrip_within_half_a_step():
    x = np.linspace(-1, 1, 101, dtype=np.float32)
    q = quantize(x, 0.01, 3, np.dtype(np.int8))
    assert q.dtype == np.int8 and np.abs(dequantize(q, 0.01, 3) - x).max() <= 0.005 + 1e-6
    assert quantize(np.array([100.0]), 0.01, 0, np.dtype(np.int8))[0] == 127  # saturates


def test_onnx_export_has_a_dynamic_batch(tmp_path):
    model = build_student("dscnn", num_classes=3, in_channels=1, input_size=8, options={"channels": 8}).eval()
    export_onnx(model, (1, 8, 8), tmp_path / "m.onnx")
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        assert np.allclose(OnnxModel(tmp_path / "m.onnx").predict(x), model(torch.from_numpy(x)).numpy(), atol=1e-5)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_every_registry_student_converts_to_a_gate_passing_int8_tflite(name, tmp_path):
    torch.manual_seed(0)
    model = build_student(name, num_classes=4, in_channels=3, input_size=16, width=0.35).eval()
    calibration = (torch.randn(1, 3, 16, 16) for _ in range(16))
    assert export_tflite_int8(model, (3, 16, 16), calibration, tmp_path / "m.tflite", log=tmp_path / "log") == 16
    assert float_ops(tmp_path / "m.tflite") == []
    assert not list(tmp_path.glob(".m.tflite.*"))  # no temp file left behind
