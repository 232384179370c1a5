"""Quantization-aware training in the int8 flow's own terms: the student exported strictly (as for PTQ), its
BatchNorm folded into the convolutions, fake quantization inserted by the same quantizer with `is_qat`, then
converted and written as a full-integer .tflite exactly as post-training quantization writes one.

BatchNorm is folded before training rather than simulated: litert-torch's conv+BN QAT patterns do not build
on this torchao (`_get_aten_graph_module_for_pattern` is handed a function where torch.export wants a
module), and a short fine-tune from a trained student loses nothing by keeping BN statistics fixed (the
usual recipe freezes them for the last epochs anyway). The training loop sees an ordinary module that takes
NCHW input like the student.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from edgedistill.export.native_logs import native_logs_to
from edgedistill.export.tflite_export import channel_last, quantizer_config, write_quantized_tflite


def _qat_quantizer():
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer

    class FoldedBNQuantizer(PT2EQuantizer):
        STATIC_QAT_ONLY_OPS: list[str] = []  # conv+BN patterns: BN is folded before prepare

    return FoldedBNQuantizer().set_global(quantizer_config(qat=True))


class QATStudent(nn.Module):
    """A student under fake quantization. train()/eval() switch dropout and the range observers (observed in
    training, fixed in evaluation so that validation does not move them); freeze_observers() fixes the ranges
    for the last epochs."""

    def __init__(self, student: nn.Module, input_shape_nchw: tuple[int, int, int]) -> None:
        super().__init__()
        from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e
        from torchao.quantization.pt2e.utils import _fuse_conv_bn_

        c, h, w = input_shape_nchw
        self.input_shape_nchw = (c, h, w)
        self.quantizer = _qat_quantizer()
        batch = torch.export.Dim("batch", min=1, max=1 << 16)
        graph = torch.export.export(
            channel_last(student.cpu().eval()),
            (torch.zeros(2, h, w, c),),
            dynamic_shapes=(({0: batch},),),
            strict=True,  # as for PTQ: strict=False leaves residual ADDs in float
        ).module()
        _fuse_conv_bn_(graph)
        self.graph = prepare_qat_pt2e(graph, self.quantizer)
        self.observers_frozen = False
        self.train()

    def train(self, mode: bool = True) -> QATStudent:
        # an exported graph refuses nn.Module.train(); these switch its dropout and batch-norm ops instead
        from torchao.quantization.pt2e import (
            disable_observer,
            enable_observer,
            move_exported_model_to_eval,
            move_exported_model_to_train,
        )

        self.training = mode
        (move_exported_model_to_train if mode else move_exported_model_to_eval)(self.graph)
        self.graph.apply(enable_observer if mode and not self.observers_frozen else disable_observer)
        return self

    def freeze_observers(self) -> None:
        self.observers_frozen = True
        self.train(self.training)

    def forward(self, x_nchw: torch.Tensor) -> torch.Tensor:
        return self.graph(x_nchw.permute(0, 2, 3, 1))


def export_qat_tflite(qat: QATStudent, dest: Path, log: Path | None = None) -> None:
    """The fake-quantized student converted to integer ops and written as a full-integer int8 .tflite."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    with native_logs_to(log):
        graph = copy.deepcopy(qat.eval().to("cpu").graph)  # conversion rewrites the graph it is given
        write_quantized_tflite(convert_pt2e(graph, fold_quantize=False), qat.input_shape_nchw, qat.quantizer, dest)
