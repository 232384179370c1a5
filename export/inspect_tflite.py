"""Reading a .tflite: its input/output details and the ops that compute in float (the int8 gate)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}
FLOAT_DTYPES = {np.float32, np.float16, np.float64}


def module_path(tensor_name: str) -> str:
    """The PyTorch module that made a tensor, from the location name litert-torch gives it.

    'litert_torch..ChannelLastIOWrapper/pkg.DSCNN_wrapped/torch.nn...Sequential_features/torch.nn...ReLU_2;...'
    reads as features.2: each path part is '<class>_<attribute>', and 'wrapped' is the I/O wrapper's own
    attribute. A name without that form (the graph's output, say) comes back as it is.
    """
    first = tensor_name.split(";")[0]
    parts = first.split("/")
    if len(parts) < 2:
        return tensor_name
    attrs = [part.rsplit(".", 1)[-1].partition("_")[2] for part in parts]
    attrs = [a for a in attrs if a]
    if attrs and attrs[0] == "wrapped":
        attrs = attrs[1:]
    return ".".join(attrs) or tensor_name


@dataclass(frozen=True)
class FloatOp:
    index: int
    op: str
    tensors: tuple[str, ...]  # names of the float tensors it reads or writes

    @property
    def layer(self) -> str:
        return module_path(self.tensors[-1]) if self.tensors else "?"

    def __str__(self) -> str:
        return f"#{self.index} {self.op} in {self.layer}"


def _interpreter(path: Path, preserve_all_tensors: bool = False):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # without the default delegates, so the op list is the model's own graph
    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=preserve_all_tensors,
    )
    interp.allocate_tensors()
    return interp


def check_loadable(path: Path) -> None:
    """Fail in one line when path is missing or not a model the host runtime can load."""
    from edgedistill.errors import EdgeDistillError

    path = Path(path)
    if not path.is_file():
        raise EdgeDistillError(f"{path}: model file not found")
    if path.suffix == ".onnx":
        import onnx

        try:
            onnx.checker.check_model(str(path))
        except Exception as exc:
            raise EdgeDistillError(f"{path}: not a valid ONNX model ({type(exc).__name__})") from None
        return
    try:
        _interpreter(path)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise EdgeDistillError(f"{path}: not a valid TFLite model ({first})") from None


def _io(detail: dict) -> dict:
    scale, zero_point = detail["quantization"]
    return {
        "name": detail["name"],
        "shape": [int(s) for s in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


def io_details(path: Path) -> dict:
    """{'inputs': [...], 'outputs': [...]} with name, shape, dtype, scale, zero_point."""
    interp = _interpreter(path)
    return {
        "inputs": [_io(d) for d in interp.get_input_details()],
        "outputs": [_io(d) for d in interp.get_output_details()],
    }


def float_ops(path: Path) -> list[FloatOp]:
    """Ops other than the boundary QUANTIZE/DEQUANTIZE that read or write a float tensor."""
    interp = _interpreter(path)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    found = []
    for op in interp._get_ops_details():  # the only API that lists ops and their tensors
        if op["op_name"] in BOUNDARY_OPS or op["op_name"] == "DELEGATE":
            continue
        names = tuple(
            tensors[i]["name"]
            for i in list(op["inputs"]) + list(op["outputs"])
            if i >= 0 and i in tensors and np.dtype(tensors[i]["dtype"]).type in FLOAT_DTYPES
        )
        if names:
            found.append(FloatOp(int(op["index"]), op["op_name"], names))
    return found


def op_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in _interpreter(path)._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts


@dataclass(frozen=True)
class OpTensors:
    """One op of a .tflite graph: its type and the shape and dtype of each tensor it reads and writes
    (constants included: a convolution's weights are its second input)."""

    index: int
    op: str
    inputs: tuple[tuple[tuple[int, ...], str], ...]
    outputs: tuple[tuple[tuple[int, ...], str], ...]
    input_ids: tuple[int, ...] = ()  # the graph's tensor indices, in the order of inputs and outputs
    output_ids: tuple[int, ...] = ()
    permutation: tuple[int, ...] = ()  # a TRANSPOSE's order of axes (its constant second input)


def op_tensors(path: Path) -> list[OpTensors]:
    """The model's own ops in graph order (no delegate nodes), with their tensors' shapes and dtypes."""
    interp = _interpreter(path)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}

    def ids(indices) -> tuple[int, ...]:
        return tuple(int(i) for i in indices if i >= 0 and i in tensors)

    def described(indices) -> tuple[tuple[tuple[int, ...], str], ...]:
        return tuple(
            (tuple(int(s) for s in tensors[i]["shape"]), np.dtype(tensors[i]["dtype"]).name) for i in ids(indices)
        )

    def permutation(op) -> tuple[int, ...]:
        inputs = ids(op["inputs"])
        if op["op_name"] != "TRANSPOSE" or len(inputs) < 2:
            return ()
        try:
            return tuple(int(a) for a in interp.get_tensor(inputs[1]).ravel())
        except ValueError:  # not a constant: computed at run time
            return ()

    return [
        OpTensors(
            int(op["index"]),
            op["op_name"],
            described(op["inputs"]),
            described(op["outputs"]),
            ids(op["inputs"]),
            ids(op["outputs"]),
            permutation(op),
        )
        for op in interp._get_ops_details()
        if op["op_name"] != "DELEGATE"
    ]
