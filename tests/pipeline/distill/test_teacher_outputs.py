"""Teachers whose outputs are not the data's logits, each a real file made here: a softmax-ended ONNX model, a
.npy of probabilities, a 1000-class ONNX teacher with a label file (and with its names in the model's metadata).
Each must teach the distribution the plain teacher teaches, over the data's classes."""

from __future__ import annotations

import io
import json

import numpy as np
import onnx
import pytest
import torch
from rich.console import Console
from torch import nn

from edgedistill.errors import CheckpointError, ConfigError
from edgedistill.pipeline.config import TeacherConfig
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.progress import Progress, quiet
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS
from tests.pipeline.distill.onnx_files import export


def _same_distribution(scores: np.ndarray, logits: np.ndarray, temperature: float = 4.0) -> None:
    """The soft targets KD trains on, at a temperature, are the reference teacher's."""
    got = torch.softmax(torch.from_numpy(scores) / temperature, 1)
    want = torch.softmax(torch.from_numpy(logits) / temperature, 1)
    assert torch.allclose(got, want, atol=1e-4)


class Softmaxed(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).softmax(1)


class Widened(nn.Module):
    """The teacher's 10 classes at scattered columns among 1000 (an ImageNet-sized head), the rest random."""

    def __init__(self, net: nn.Module, columns: list[int]) -> None:
        super().__init__()
        self.net = net
        place = torch.zeros(len(columns), 1000)
        place[torch.arange(len(columns)), torch.tensor(columns)] = 1.0
        self.register_buffer("place", place)  # logits @ place: each class to its column
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("others", (torch.randn(1000, generator=generator) * 3) * (1 - place.sum(0)))

    def forward(self, x):
        return self.net(x) @ self.place + self.others


COLUMNS = [907, 3, 512, 77, 640, 250, 999, 14, 333, 801]


def _label_names() -> list[str]:
    names = [f"imagenet_class_{i}" for i in range(1000)]
    for digit, column in enumerate(COLUMNS):
        names[column] = str(digit)
    return names


def test_a_softmax_ended_teacher_is_read_as_probabilities_with_one_line(data, reference, tmp_path):
    path = tmp_path / "softmax.onnx"
    export(Softmaxed(reference[0]), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    console = io.StringIO()
    teacher = load_teacher(TeacherConfig(onnx=path), data, Progress(Console(file=console, width=300), enabled=False))
    assert "probabilities -> log-probabilities" in teacher.description
    assert console.getvalue().count("outputs probabilities (rows sum to 1)") == 1
    _same_distribution(teacher.split_logits(data.val, data.pixel_max).numpy(), reference[1])
    # said explicitly, the same; said wrongly (logits), the soft targets are not the teacher's
    said = load_teacher(TeacherConfig(onnx=path, output_kind="probs"), data, quiet())
    _same_distribution(said.split_logits(data.val, data.pixel_max).numpy(), reference[1])
    wrong = load_teacher(TeacherConfig(onnx=path, output_kind="logits"), data, quiet())
    with pytest.raises(AssertionError):
        _same_distribution(wrong.split_logits(data.val, data.pixel_max).numpy(), reference[1])


def test_a_npy_of_probabilities_is_read_as_probabilities(data, reference, digits_npz, tmp_path):
    teacher = load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=_checkpoint(reference, tmp_path)),
        data,
        quiet(),
    )
    all_rows = data.train.subset(np.arange(0))  # a split over every source row, in source order
    rows = np.arange(data.source_rows)
    split = type(all_rows)(all_rows.images, np.zeros(len(rows), np.int64), rows)
    probs = torch.softmax(teacher.split_logits(split, data.pixel_max), 1).numpy()
    np.save(tmp_path / "probs.npy", probs)
    from_table = load_teacher(TeacherConfig(logits=tmp_path / "probs.npy"), data, quiet())
    assert "probabilities -> log-probabilities" in from_table.description
    _same_distribution(from_table.split_logits(data.val, data.pixel_max).numpy(), reference[1])


def _checkpoint(reference, tmp_path):
    path = tmp_path / "teacher.pt"
    torch.save(reference[0].state_dict(), path)
    return path


def test_a_1000_class_teacher_is_mapped_by_its_label_file(data, reference, tmp_path):
    path = tmp_path / "wide.onnx"
    export(Widened(reference[0], COLUMNS), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    with pytest.raises(CheckpointError, match=r"teacher outputs \(2, 1000\).*needs teacher.labels"):
        load_teacher(TeacherConfig(onnx=path), data, quiet())
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(_label_names()) + "\n")
    teacher = load_teacher(TeacherConfig(onnx=path, labels=labels), data, quiet())
    assert "1000 classes mapped by name to the data's 10" in teacher.description
    scores = teacher.split_logits(data.val, data.pixel_max).numpy()
    assert scores.shape == reference[1].shape
    _same_distribution(scores, reference[1])  # the other 990 classes dropped, the rest renormalised


def test_class_names_in_the_onnx_metadata_are_used(data, reference, tmp_path):
    path = tmp_path / "named.onnx"
    export(Widened(reference[0], COLUMNS), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"labels": "\n".join(_label_names())})
    onnx.save(model, str(path))
    teacher = load_teacher(TeacherConfig(onnx=path), data, quiet())
    _same_distribution(teacher.split_logits(data.val, data.pixel_max).numpy(), reference[1])


def test_data_classes_the_teacher_lacks_are_named_in_one_line(data, reference, tmp_path):
    path = tmp_path / "wide.onnx"
    export(Widened(reference[0], COLUMNS), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    names = _label_names()
    names[COLUMNS[3]], names[COLUMNS[7]] = "tabby cat", "tiger cat"
    with pytest.raises(ConfigError, match=r"the teacher has no class named '3', '7' \(2 of the data's 10 classes"):
        load_teacher(TeacherConfig(onnx=path, labels=names), data, quiet())


def test_metadata_as_id2label_is_read_and_names_that_do_not_fit_are_set_aside(data, reference, tmp_path):
    path = tmp_path / "id2label.onnx"
    export(Widened(reference[0], COLUMNS), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"labels": json.dumps(dict(enumerate(_label_names())))})
    onnx.save(model, str(path))
    teacher = load_teacher(TeacherConfig(onnx=path), data, quiet())
    _same_distribution(teacher.split_logits(data.val, data.pixel_max).numpy(), reference[1])
    # a 10-class model whose metadata names other classes than the data's folders: one line, the data's order
    plain = tmp_path / "plain.onnx"
    export(reference[0], torch.zeros(1, 1, 8, 8), plain, dynamic=True)
    model = onnx.load(str(plain))
    onnx.helper.set_model_props(model, {"labels": json.dumps([f"digit {i}" for i in range(10)])})
    onnx.save(model, str(plain))
    console = io.StringIO()
    teacher = load_teacher(TeacherConfig(onnx=plain), data, Progress(Console(file=console, width=400), enabled=False))
    assert "metadata: the teacher has no class named '0'" in console.getvalue()
    assert "not used (set teacher.labels)" in console.getvalue()
    _same_distribution(teacher.split_logits(data.val, data.pixel_max).numpy(), reference[1])


def test_a_label_file_in_the_wrong_order_is_caught_naming_the_teachers_outputs(data, reference, tmp_path):
    path = tmp_path / "wide.onnx"
    export(Widened(reference[0], COLUMNS), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    names = _label_names()
    names[COLUMNS[1]], names[COLUMNS[2]] = "2", "1"  # two names swapped in the file
    with pytest.raises(CheckpointError) as failure:
        load_teacher(TeacherConfig(onnx=path, labels=names), data, quiet())
    message = str(failure.value)
    assert f"its output {COLUMNS[1]} ('2') is '1'" in message and "set those names right in teacher.labels" in message
