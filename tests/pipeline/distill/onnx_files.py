"""ONNX files as users make them, for the teacher tests."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def export(module: nn.Module, sample: torch.Tensor, path, outputs=("logits",), dynamic=False) -> None:
    """torch.onnx.export as a user calls it: without dynamic axes the batch is the sample's (1)."""
    axes = {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (sample,),
            str(path),
            input_names=["input"],
            output_names=list(outputs),
            dynamic_axes=axes,
            dynamo=False,
        )
