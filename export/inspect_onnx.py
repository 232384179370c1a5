"""What an .onnx file says of its inputs and outputs (names, shapes, dtypes), as inspect_tflite does for .tflite."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import helper


def _io(value: onnx.ValueInfoProto) -> dict:
    tensor = value.type.tensor_type
    # a symbolic dimension (the dynamic batch) is fed one sample at a time: 1
    shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor.shape.dim]
    dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    return {"name": value.name, "shape": shape, "dtype": dtype, "scale": 0.0, "zero_point": 0}


def io_details(path: Path) -> dict:
    """{'inputs': [...], 'outputs': [...]} with name, shape, dtype, scale, zero_point (float I/O: 0.0 and 0)."""
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    return {
        "inputs": [_io(v) for v in graph.input if v.name not in initializers],
        "outputs": [_io(v) for v in graph.output],
    }
