from __future__ import annotations

import numpy as np
import pytest

from edgedistill.export.inspect_tflite import float_ops, io_details, op_counts
from edgedistill.export.io_types import set_io_dtype
from edgedistill.export.runtimes import TFLiteModel


def _real_samples(digits_npz, count=32):
    from edgedistill.pipeline.config import DataConfig
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.data.transforms import preprocess

    data = load_data(DataConfig(npz=digits_npz))
    return preprocess(data.test.x[:count], data)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_io_dtype_changes_only_the_ends_and_gives_the_same_outputs(dtype, built_project, digits_npz, tmp_path):
    src = built_project.out / "model_int8.tflite"
    dest = tmp_path / f"model_{dtype}.tflite"
    set_io_dtype(src, dest, dtype)
    before, after = io_details(src), io_details(dest)
    (inp,), (out,) = after["inputs"], after["outputs"]
    assert inp["dtype"] == out["dtype"] == dtype
    assert (
        inp["name"] == before["inputs"][0]["name"] and out["name"] == before["outputs"][0]["name"]
    )  # apps look tensors up by name
    if dtype == "uint8":  # the same real value grid, shifted into 0..255
        assert (
            inp["scale"] == before["inputs"][0]["scale"]
            and inp["zero_point"] == before["inputs"][0]["zero_point"] + 128
        )
        assert out["zero_point"] == before["outputs"][0]["zero_point"] + 128
    assert float_ops(dest) == []  # still integer inside: the new QUANTIZE/DEQUANTIZE are boundary ops
    counts, original = op_counts(dest), op_counts(src)
    added = {k: counts.get(k, 0) - original.get(k, 0) for k in set(counts) | set(original)}
    assert {k: v for k, v in added.items() if v} == (
        {"QUANTIZE": 2} if dtype == "uint8" else {"QUANTIZE": 1, "DEQUANTIZE": 1}
    )
    x = _real_samples(digits_npz)
    assert np.array_equal(TFLiteModel(dest).predict(x), TFLiteModel(src).predict(x))


def test_io_dtype_keeps_the_signature_callable(built_project, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    dest = tmp_path / "m.tflite"
    set_io_dtype(built_project.out / "model_int8.tflite", dest, "uint8")
    runner = Interpreter(model_path=str(dest)).get_signature_runner()
    (name,) = runner.get_input_details()
    (result,) = runner(**{name: np.zeros((1, 8, 8, 1), np.uint8)}).values()
    assert result.dtype == np.uint8 and result.shape == (1, 10)


def test_int8_io_is_a_byte_copy_and_a_float_model_is_refused(built_project, tmp_path):
    src = built_project.out / "model_int8.tflite"
    set_io_dtype(src, tmp_path / "same.tflite", "int8")
    assert (tmp_path / "same.tflite").read_bytes() == src.read_bytes()
    with pytest.raises(ValueError, match=r"model_fp32.tflite: input/output tensor .* is not int8"):
        set_io_dtype(built_project.out / "model_fp32.tflite", tmp_path / "x.tflite", "uint8")
    assert not (tmp_path / "x.tflite").exists()
