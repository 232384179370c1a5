"""The checks that stop a silently mismatched teacher before training, each on a real file made here: an ONNX
teacher whose outputs are permuted, an ONNX teacher that wants other preprocessing than the one configured, and
a permuted factory teacher in a module beside the config, built through the `edgedistill` script from another
folder (which also shows the config's folder is on the import path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgedistill.errors import CheckpointError
from edgedistill.pipeline.config import DataConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.distill.teacher_checks import clearly_above_chance, guessing_share
from edgedistill.pipeline.distill.training import accuracy
from edgedistill.progress import quiet
from edgedistill.students.resnet import resnet8
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS, tiny_config, write_config
from tests.pipeline.distill.onnx_files import export

ORDER = [3, 0, 1, 2, 4, 5, 6, 7, 9, 8]  # output j holds the data's class ORDER[j]


@pytest.fixture(scope="module")
def net(reference):
    return reference[0]


class Permuted(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("index", torch.tensor(ORDER))

    def forward(self, x):
        return self.net(x).index_select(1, self.index)


class WantsUnitPixels(nn.Module):
    """Normalises inside the graph, so it wants pixels scaled to 0..1 (many exported models do)."""

    def __init__(self, net: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def test_a_teacher_with_permuted_classes_stops_naming_the_mapping(data, net, tmp_path):
    path = tmp_path / "permuted.onnx"
    export(Permuted(net), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    with pytest.raises(CheckpointError) as failure:
        load_teacher(TeacherConfig(onnx=path), data, quiet())
    message = str(failure.value)
    assert "\n" not in message and "another order than the data's" in message
    assert "its output 0 is '3'" in message
    assert f"set teacher.labels: {[str(c) for c in ORDER]}" in message
    # the fix it names works: the teacher then scores as the plain one does
    fixed = load_teacher(TeacherConfig(onnx=path, labels=[str(c) for c in ORDER]), data, quiet())
    assert accuracy(fixed.split_logits(data.val, data.pixel_max).numpy(), data.val.y) > 80


def test_a_teacher_given_the_wrong_normalisation_stops_naming_the_right_one(data, net, tmp_path):
    path = tmp_path / "unit.onnx"
    export(WantsUnitPixels(net, data.mean[0], data.std[0]), torch.zeros(1, 1, 8, 8), path, dynamic=True)
    with pytest.raises(CheckpointError) as failure:
        load_teacher(TeacherConfig(onnx=path), data, quiet())  # default: the data's own mean/std, applied twice
    message = str(failure.value)
    assert "\n" not in message
    assert "with pixels scaled to 0..1: set teacher.normalize: {mean: [0.0], std: [1.0]}" in message
    fixed = load_teacher(TeacherConfig(onnx=path, normalize={"mean": [0.0], "std": [1.0]}), data, quiet())
    assert accuracy(fixed.split_logits(data.val, data.pixel_max).numpy(), data.val.y) > 80
    # checks off: the user says the teacher is as meant
    load_teacher(TeacherConfig(onnx=path, checks=False), data, quiet())


def test_noise_on_a_small_split_is_not_taken_for_a_better_teacher():
    assert not clearly_above_chance(70.0, 40, 0.5)  # 28 of 40 right among 2 classes is luck
    assert not clearly_above_chance(20.0, 100, 0.1)  # 20 of 100 among 10 classes: 3.3 standard deviations
    assert clearly_above_chance(97.0, 180, 0.1)
    assert not clearly_above_chance(80.0, 200, guessing_share(np.array([0] * 160 + [1] * 40), 2))  # the majority
    rng = np.random.default_rng(0)
    scores = [100.0 * (rng.integers(0, 10, 180) == rng.integers(0, 10, 180)).mean() for _ in range(200)]
    assert not any(clearly_above_chance(s, 180, 0.1) for s in scores)


@pytest.fixture(scope="module")
def imbalanced(digits_npz, tmp_path_factory):
    """Eight in ten images of one class (a defect detector's 'ok'), the rest spread over the other nine."""
    with np.load(digits_npz) as f:
        x, y = f["x"], f["y"]
    keep = np.concatenate([np.flatnonzero(y == 0), *[np.flatnonzero(y == c)[:5] for c in range(1, 10)]])
    path = tmp_path_factory.mktemp("imbalanced") / "imbalanced.npz"
    np.savez(path, x=x[keep], y=y[keep])
    return load_data(DataConfig(npz=path))


def test_a_stuck_or_untrained_teacher_on_imbalanced_data_is_not_taken_for_a_permuted_one(imbalanced, tmp_path):
    stuck = np.tile(np.eye(10, dtype=np.float32)[3] * 5, (imbalanced.source_rows, 1))  # always class 3
    np.save(tmp_path / "stuck.npy", stuck)
    load_teacher(TeacherConfig(logits=tmp_path / "stuck.npy"), imbalanced, quiet())
    for seed in range(3):
        torch.manual_seed(seed)
        torch.save(resnet8(**TEACHER_KWARGS).state_dict(), tmp_path / f"untrained{seed}.pt")
        cfg = TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=tmp_path / f"untrained{seed}.pt")
        load_teacher(cfg, imbalanced, quiet())


class WantsImageNetBGR(nn.Module):
    """A teacher trained on BGR images with ImageNet mean/std (an OpenCV pipeline); it reads the red channel."""

    def __init__(self, net: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x):  # x: BGR, ImageNet-normalised; red is its channel 2
        red = x[:, 2:3] * 0.229 + 0.485
        return self.net((red - self.mean) / self.std)


def test_a_bgr_imagenet_teacher_on_rgb_data_stops_naming_both_settings(digits_npz, net, tmp_path):
    with np.load(digits_npz) as f:
        x, y = f["x"], f["y"]
    rgb = np.stack([x, np.zeros_like(x), np.full_like(x, 90)], axis=-1)  # the digit in red only
    np.savez(tmp_path / "rgb.npz", x=rgb, y=y)
    data = load_data(DataConfig(npz=tmp_path / "rgb.npz"))
    grey = load_data(DataConfig(npz=digits_npz))
    path = tmp_path / "bgr.onnx"
    export(WantsImageNetBGR(net, grey.mean[0], grey.std[0]), torch.zeros(1, 3, 8, 8), path, dynamic=True)
    with pytest.raises(CheckpointError) as failure:
        load_teacher(TeacherConfig(onnx=path), data, quiet())
    assert (
        "with ImageNet mean/std on BGR: set teacher.normalize: {mean: [0.406, 0.456, 0.485], "
        "std: [0.225, 0.224, 0.229]}, teacher.color_order: BGR" in str(failure.value)
    )
    fixed = TeacherConfig(
        onnx=path, normalize={"mean": [0.406, 0.456, 0.485], "std": [0.225, 0.224, 0.229]}, color_order="BGR"
    )
    teacher = load_teacher(fixed, data, quiet())
    assert accuracy(teacher.split_logits(data.val, data.pixel_max).numpy(), data.val.y) > 80


FACTORY_MODULE = '''
import torch
from torch import nn

from edgedistill.students.resnet import resnet8


class Permuted(nn.Module):
    """A vendor's teacher whose classes are in its own order."""

    def __init__(self, **kwargs):
        super().__init__()
        self.net = resnet8(**kwargs)
        self.register_buffer("index", torch.tensor({order}), persistent=False)

    def forward(self, x):
        return self.net(x).index_select(1, self.index)


def build(**kwargs):
    return Permuted(**kwargs)
'''


def test_a_factory_beside_the_config_imports_from_the_script_run_elsewhere(digits_npz, digits_teacher, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "vendor_teacher.py").write_text(FACTORY_MODULE.format(order=ORDER))
    state = torch.load(digits_teacher, weights_only=True)
    torch.save({f"net.{k}": v for k, v in state.items()}, project / "teacher.pt")
    cfg = tiny_config(digits_npz, project / "teacher.pt")
    cfg["teacher"] = {"factory": "vendor_teacher:build", "kwargs": TEACHER_KWARGS, "checkpoint": "teacher.pt"}
    config = write_config(project, cfg)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = Path(sys.executable).parent / "edgedistill"
    env = {**os.environ, "EDGEDISTILL_HOME": str(tmp_path / ".home"), "PYTHONPATH": ""}
    proc = subprocess.run(
        [str(script), "build", "--config", str(config), "--quiet"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode != 0
    assert "cannot import" not in proc.stderr
    # imported, run, and stopped by the class-order check before any training
    assert "another order than the data's" in proc.stderr and "set teacher.labels" in proc.stderr
    assert not (elsewhere / "build").exists() and not (project / "build").exists()
