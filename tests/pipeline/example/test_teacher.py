"""The bundled example teacher: shipped checkpoint, or trained once into the user cache."""

from __future__ import annotations

import torch

from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.example import teacher as example
from edgedistill.progress import quiet


def test_shipped_checkpoint_loads_into_the_example_architecture():
    assert example.SHIPPED_CHECKPOINT.is_file()
    model = example.build_teacher_module()
    model.load_state_dict(torch.load(example.SHIPPED_CHECKPOINT, weights_only=True))
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_missing_checkpoint_is_trained_once_into_the_cache(monkeypatch, tmp_path, digits_npz):
    monkeypatch.setattr(example, "SHIPPED_CHECKPOINT", tmp_path / "not-shipped.pt")
    monkeypatch.setenv("EDGEDISTILL_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(example.RECIPE, "epochs", 2)
    data = load_data(DataConfig(npz=digits_npz))
    path = example.ensure_teacher_checkpoint(quiet(), data)
    assert path == tmp_path / "home" / "mnist_resnet8.pt" and path.is_file()
    model = example.build_teacher_module()
    model.load_state_dict(torch.load(path, weights_only=True))

    def no_second_training(*_a, **_k):
        raise AssertionError("trained again")

    monkeypatch.setattr(example, "train_teacher", no_second_training)
    assert example.ensure_teacher_checkpoint(quiet(), data) == path


def test_training_reaches_far_above_chance(tmp_path, digits_npz):
    data = load_data(DataConfig(npz=digits_npz))
    acc = example.train_teacher(data, tmp_path / "t.pt", quiet(), epochs=3)
    assert acc > 80.0 and (tmp_path / "t.pt").is_file()
