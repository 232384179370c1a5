"""The input/output dtype of a full-integer .tflite: int8 (as converted), uint8, or float32 with int8 inside.

The converter gives int8 at both ends. An app that holds uint8 camera bytes or float tensors would
otherwise convert on the CPU around every call; this rewrites the model's flatbuffer instead:

- uint8: a QUANTIZE op requantizes the uint8 input to the int8 one (same scale, zero point + 128),
  and another requantizes the int8 output to uint8. TFLite's QUANTIZE kernel does both directly.
- float32: a QUANTIZE op takes the float input to int8 and a DEQUANTIZE op gives float output.

Everything between stays as converted, so the int8 gate still holds: QUANTIZE and DEQUANTIZE at the
boundary are the only ops that touch a non-integer tensor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edgedistill.fsutil import atomic_path

IoDtype = Literal["int8", "uint8", "float32"]
IO_DTYPES: tuple[str, ...] = ("int8", "uint8", "float32")


def _opcode_index(model, builtin: int) -> int:
    from ai_edge_litert import schema_py_generated as fb

    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = fb.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # the old int8 field; 127 means 'look at builtinCode'
    code.version = 2  # int8 <-> uint8 QUANTIZE and int8 DEQUANTIZE need version 2 kernels
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _boundary_tensor(model, graph, like: int, dtype: IoDtype) -> int:
    """A new tensor shaped like `like` in the requested dtype, taking over its name (apps look tensors up
    by name); `like` becomes '<name>_int8' inside. Returns the new tensor's index."""
    from ai_edge_litert import schema_py_generated as fb

    src = graph.tensors[like]
    t = fb.TensorT()
    t.shape = list(src.shape)
    t.shapeSignature = None if src.shapeSignature is None else list(src.shapeSignature)
    t.name = src.name
    src.name = (src.name or b"io") + b"_int8"
    t.type = fb.TensorType.UINT8 if dtype == "uint8" else fb.TensorType.FLOAT32
    if dtype == "uint8":
        q = fb.QuantizationParametersT()
        q.scale = list(src.quantization.scale)
        q.zeroPoint = [int(z) + 128 for z in src.quantization.zeroPoint]
        t.quantization = q
    model.buffers.append(fb.BufferT())
    t.buffer = len(model.buffers) - 1
    graph.tensors.append(t)
    return len(graph.tensors) - 1


def _op(opcode: int, inputs: list[int], outputs: list[int]):
    from ai_edge_litert import schema_py_generated as fb

    op = fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode, inputs, outputs
    return op


def set_io_dtype(src: Path, dest: Path, dtype: IoDtype) -> None:
    """Write `src` (an int8-in, int8-out .tflite) to `dest` with `dtype` at its input and output."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    if dtype not in IO_DTYPES:
        raise ValueError(f"io dtype must be one of {', '.join(IO_DTYPES)}, not {dtype!r}")
    if dtype == "int8":
        with atomic_path(dest) as tmp:
            Path(tmp).write_bytes(Path(src).read_bytes())
        return
    model = fb.ModelT.InitFromPackedBuf(Path(src).read_bytes(), 0)
    graph = model.subgraphs[0]
    for index in list(graph.inputs) + list(graph.outputs):
        if graph.tensors[index].type != fb.TensorType.INT8:
            raise ValueError(
                f"{Path(src).name}: input/output tensor {(graph.tensors[index].name or b'').decode()!r} is not int8"
            )
    quantize = _opcode_index(model, fb.BuiltinOperator.QUANTIZE)
    leave = quantize if dtype == "uint8" else _opcode_index(model, fb.BuiltinOperator.DEQUANTIZE)
    renamed: dict[int, int] = {}
    for index in graph.inputs:
        new = _boundary_tensor(model, graph, index, dtype)
        graph.operators.insert(0, _op(quantize, [new], [index]))
        renamed[index] = new
    for index in graph.outputs:
        new = _boundary_tensor(model, graph, index, dtype)
        graph.operators.append(_op(leave, [index], [new]))
        renamed[index] = new
    graph.inputs = [renamed[i] for i in graph.inputs]
    graph.outputs = [renamed[i] for i in graph.outputs]
    for signature in model.signatureDefs or []:
        for entry in list(signature.inputs or []) + list(signature.outputs or []):
            entry.tensorIndex = renamed.get(entry.tensorIndex, entry.tensorIndex)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with atomic_path(dest) as tmp:
        Path(tmp).write_bytes(bytes(builder.Output()))
