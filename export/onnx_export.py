"""PyTorch -> ONNX (fp32, NCHW input named 'input', dynamic batch)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from edgedistill.fsutil import atomic_path

OPSET = 17


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], dest: Path) -> None:
    """Export with the TorchScript-based exporter (fast, one self-contained file)."""
    sample = torch.zeros(1, *input_shape)
    with atomic_path(dest) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (sample,),
            str(tmp),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
