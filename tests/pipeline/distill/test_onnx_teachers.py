"""ONNX teachers as users bring them, each a real .onnx written here: a default torch.onnx.export (fixed batch 1),
a channels-last (NHWC) graph, a graph that takes raw uint8 pixels and normalises them itself, a graph with two
outputs. Each must teach what the same network teaches as a PyTorch module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgedistill.errors import CheckpointError
from edgedistill.pipeline.config import TeacherConfig
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.distill.training import agreement
from edgedistill.progress import quiet
from tests.pipeline.distill.onnx_files import export


class ChannelsLast(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):  # (N, H, W, C), as a Keras/TF model converted to ONNX takes it
        return self.net(x.permute(0, 3, 1, 2))


class RawPixels(nn.Module):
    """Takes uint8 0-255 pixels and normalises them with the data's statistics itself."""

    def __init__(self, net: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x):
        return self.net((x.float() / 255 - self.mean) / self.std)


class TwoOutputs(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        logits = self.net(x)
        return logits.softmax(1), logits


def _teaches_the_same(data, reference, path, **cfg) -> str:
    teacher = load_teacher(TeacherConfig(onnx=path, **cfg), data, quiet())
    logits = teacher.split_logits(data.val, data.pixel_max).numpy()
    assert logits.shape == reference[1].shape
    assert agreement(logits, reference[1]) >= 99.0
    return teacher.description, logits


def test_a_default_export_with_a_fixed_batch_of_one_runs_in_slices(data, reference, tmp_path):
    export(reference[0], torch.zeros(1, 1, 8, 8), tmp_path / "fixed.onnx")
    description, logits = _teaches_the_same(data, reference, tmp_path / "fixed.onnx")
    assert np.allclose(logits, reference[1], atol=1e-4) and "batch 1 in slices" in description


def test_a_channels_last_graph_is_fed_nhwc(data, reference, tmp_path):
    export(ChannelsLast(reference[0]), torch.zeros(1, 8, 8, 1), tmp_path / "nhwc.onnx", dynamic=True)
    description, logits = _teaches_the_same(data, reference, tmp_path / "nhwc.onnx")
    assert np.allclose(logits, reference[1], atol=1e-4) and "NHWC" in description


def test_a_uint8_graph_is_fed_raw_pixels(data, reference, tmp_path):
    net = RawPixels(reference[0], data.mean[0], data.std[0])
    export(net, torch.zeros(1, 1, 8, 8, dtype=torch.uint8), tmp_path / "uint8.onnx", dynamic=True)
    description, logits = _teaches_the_same(data, reference, tmp_path / "uint8.onnx")
    assert "uint8 input" in description  # pixels rounded to 0-255: the same predictions, logits within rounding


def test_the_output_named_is_the_one_used_and_an_unknown_name_is_one_line(data, reference, tmp_path):
    path = tmp_path / "two.onnx"
    export(TwoOutputs(reference[0]), torch.zeros(1, 1, 8, 8), path, outputs=("probs", "logits"), dynamic=True)
    description, logits = _teaches_the_same(data, reference, path, output="logits")
    assert np.allclose(logits, reference[1], atol=1e-4) and "output 'logits'" in description
    with pytest.raises(
        CheckpointError, match=r"two.onnx: teacher.output 'scores' is not an output of the graph \(probs, logits\)"
    ):
        load_teacher(TeacherConfig(onnx=path, output="scores"), data, quiet())


def test_an_input_the_graph_cannot_take_names_what_it_wants(data, reference, tmp_path):
    export(reference[0], torch.zeros(1, 1, 16, 16), tmp_path / "big.onnx")
    with pytest.raises(
        CheckpointError, match=r"the graph wants input 'input' of shape \[1, 1, 16, 16\] tensor\(float\)"
    ):
        load_teacher(TeacherConfig(onnx=tmp_path / "big.onnx"), data, quiet())
