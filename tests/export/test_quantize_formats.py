from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgedistill.export.onnx_quantize import CALIBRATION_METHODS, quantize_onnx
from edgedistill.export.runtimes import OnnxModel, TFLiteModel
from edgedistill.export.tflite_export import export_tflite_from_fp32
from tests.export.test_io_types import _real_samples


def _weight_dtypes(path) -> set[str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    return {np.dtype(t["dtype"]).name for t in interp.get_tensor_details() if len(t["shape"]) >= 2}


def _constant_bytes(path) -> int:
    """Bytes of the model's constant buffers (weights and biases), without its graph and tensor names."""
    from ai_edge_litert import schema_py_generated as fb

    model = fb.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    return sum(len(b.data) for b in model.buffers if b.data is not None)


def _agreement(a, b) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


@pytest.mark.parametrize("scheme, weights, max_share", [("fp16", "float16", 0.55), ("dynamic_int8", "int8", 0.35)])
def test_fp16_and_dynamic_range_tflite_shrink_the_weights_and_keep_the_outputs(
    scheme, weights, max_share, built_project, digits_npz, tmp_path
):
    fp32 = built_project.out / "model_fp32.tflite"
    dest = tmp_path / f"{scheme}.tflite"
    export_tflite_from_fp32(fp32, dest, scheme, tmp_path / "log")
    assert weights in _weight_dtypes(dest)
    assert _constant_bytes(dest) < max_share * _constant_bytes(fp32)
    x = _real_samples(digits_npz, 64)
    ref, got = TFLiteModel(fp32).predict(x), TFLiteModel(dest).predict(x)
    assert _agreement(got, ref) >= 0.95
    if scheme == "fp16":  # float16 weights, float32 compute: close to fp32 everywhere
        assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_onnx_int8_is_qdq_per_channel_and_agrees_with_fp32(method, built_project, digits_npz, tmp_path):
    src = built_project.out / "model.onnx"
    dest = tmp_path / "int8.onnx"
    calibration = _real_samples(digits_npz, 48)
    quantize_onnx(src, dest, (calibration[i : i + 1] for i in range(len(calibration))), method, tmp_path / "log")
    graph = onnx.load(str(dest)).graph
    ops = [n.op_type for n in graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {i.name: i for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:  # every conv's weight comes through a per-channel int8 DequantizeLinear
        (dq,) = [n for n in graph.node if n.output[0] == conv.input[1]]
        assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].data_type == onnx.TensorProto.INT8
        assert len(inits[dq.input[1]].dims) == 1 and inits[dq.input[1]].dims[0] == inits[dq.input[0]].dims[0] > 1
    x = _real_samples(digits_npz, 128)
    assert _agreement(OnnxModel(dest).predict(x), OnnxModel(src).predict(x)) >= 0.9


def test_onnx_int8_refuses_an_unknown_method(built_project, tmp_path):
    with pytest.raises(ValueError, match="calibration method must be one of minmax, percentile, entropy"):
        quantize_onnx(built_project.out / "model.onnx", tmp_path / "x.onnx", iter([]), "kl")
