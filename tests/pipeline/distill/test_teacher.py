from __future__ import annotations

import numpy as np
import pytest
import torch

from edgedistill.errors import CheckpointError, ConfigError
from edgedistill.pipeline.config import DataConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.progress import quiet
from edgedistill.students.resnet import resnet8
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS


@pytest.fixture(scope="module")
def data(digits_npz):
    return load_data(DataConfig(npz=digits_npz))


def test_factory_and_state_dict(data, digits_teacher):
    t = load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher), data, quiet()
    )
    assert not t.module.training and t.file_size == digits_teacher.stat().st_size
    same = load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher), data, quiet()
    )
    assert same.fingerprint == t.fingerprint


def test_torchscript_teacher_gives_the_same_logits(data, digits_teacher, tmp_path):
    model = resnet8(**TEACHER_KWARGS)
    model.load_state_dict(torch.load(digits_teacher, weights_only=True))
    path = tmp_path / "teacher.ts"
    torch.jit.script(model.eval()).save(str(path))
    t = load_teacher(TeacherConfig(torchscript=path), data, quiet())
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(t.module(x), model(x), atol=1e-5)


def test_teacher_with_wrong_number_of_outputs(data, tmp_path):
    model = resnet8(**{**TEACHER_KWARGS, "num_classes": 7})
    path = tmp_path / "t7.pt"
    torch.save(model.state_dict(), path)
    cfg = TeacherConfig(factory=TEACHER_FACTORY, kwargs={**TEACHER_KWARGS, "num_classes": 7}, checkpoint=path)
    with pytest.raises(CheckpointError, match=r"teacher outputs \(2, 7\) for 2 inputs; expected \(2, 10\)"):
        load_teacher(cfg, data, quiet())


def test_pickled_module_is_not_loaded(data, tmp_path):
    """weights_only=True: a checkpoint that needs unpickling arbitrary objects is refused."""
    path = tmp_path / "whole_module.pt"
    torch.save(resnet8(**TEACHER_KWARGS), path)
    with pytest.raises(CheckpointError, match="not a readable PyTorch state_dict"):
        load_teacher(TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=path), data, quiet())


def test_factory_that_is_not_a_module(data, digits_teacher):
    with pytest.raises(ConfigError, match="returned dict, not a torch.nn.Module"):
        load_teacher(TeacherConfig(factory="builtins:dict", checkpoint=digits_teacher), data, quiet())
    with pytest.raises(ConfigError, match="has no 'nothing_here'"):
        load_teacher(
            TeacherConfig(factory="edgedistill.students.resnet:nothing_here", checkpoint=digits_teacher), data, quiet()
        )


def _trained(digits_teacher):
    model = resnet8(**TEACHER_KWARGS)
    model.load_state_dict(torch.load(digits_teacher, weights_only=True))
    return model.eval()


def test_onnx_teacher_gives_the_same_logits(data, digits_teacher, tmp_path):
    from edgedistill.export.onnx_export import export_onnx

    model = _trained(digits_teacher)
    export_onnx(model, (1, 8, 8), tmp_path / "teacher.onnx")
    t = load_teacher(TeacherConfig(onnx=tmp_path / "teacher.onnx"), data, quiet())
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(t.module(x), model(x), atol=1e-4)
    assert t.description.startswith("ONNX teacher.onnx")


def test_onnx_teacher_with_the_wrong_number_of_classes(data, tmp_path):
    from edgedistill.export.onnx_export import export_onnx

    export_onnx(resnet8(**{**TEACHER_KWARGS, "num_classes": 4}).eval(), (1, 8, 8), tmp_path / "t4.onnx")
    with pytest.raises(CheckpointError, match=r"t4.onnx: teacher outputs \(2, 4\) for 2 inputs; expected \(2, 10\)"):
        load_teacher(TeacherConfig(onnx=tmp_path / "t4.onnx"), data, quiet())
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(CheckpointError, match="junk.onnx: not a loadable ONNX model"):
        load_teacher(TeacherConfig(onnx=tmp_path / "junk.onnx"), data, quiet())


def test_torch_export_teacher(data, digits_teacher, tmp_path):
    model = _trained(digits_teacher)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "teacher.pt2")
    t = load_teacher(TeacherConfig(exported=tmp_path / "teacher.pt2"), data, quiet())
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(t.module(x), model(x), atol=1e-5)


def test_each_teacher_sees_its_own_view_of_the_sample(data, digits_teacher):
    """A teacher trained at another resolution and normalisation gets its inputs resized and normalised its way."""
    cfg = dict(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher)
    plain = load_teacher(TeacherConfig(**cfg), data, quiet())
    own = load_teacher(
        TeacherConfig(**cfg, input_size=(16, 12), normalize={"mean": [0.5], "std": [0.25]}), data, quiet()
    )
    x = torch.rand(3, 1, 8, 8)
    assert plain.input_hw == (8, 8) and torch.allclose(plain.view(x), (x - data.mean[0]) / data.std[0])
    seen = own.view(x)
    assert own.input_hw == (16, 12) and seen.shape == (3, 1, 16, 12)
    assert torch.allclose(
        seen.mean(),
        (torch.nn.functional.interpolate(x, (16, 12), mode="bilinear", antialias=True).mean() - 0.5) / 0.25,
        atol=1e-4,
    )
    assert own.fingerprint != plain.fingerprint
    with pytest.raises(ConfigError, match="teacher.normalize: needs 1 mean/std values"):
        load_teacher(TeacherConfig(**cfg, normalize={"mean": [0.5, 0.5, 0.5], "std": [1, 1, 1]}), data, quiet())


def test_precomputed_logits_are_looked_up_by_source_row(data, tmp_path):
    table = np.random.default_rng(0).standard_normal((data.source_rows, 10)).astype(np.float32)
    np.save(tmp_path / "logits.npy", table)
    t = load_teacher(TeacherConfig(logits=tmp_path / "logits.npy"), data, quiet())
    assert not t.live and t.module is None
    images = torch.zeros(len(data.test), 1, 8, 8)  # ignored: the logits belong to the samples, not the pixels
    assert np.array_equal(t.logits(data.test.rows, images).numpy(), table[data.test.rows])
    np.save(tmp_path / "cols.npy", table[:, :7])
    with pytest.raises(CheckpointError, match="cols.npy: teacher logits have 7 columns; expected 10"):
        load_teacher(TeacherConfig(logits=tmp_path / "cols.npy"), data, quiet())
    np.save(tmp_path / "ints.npy", np.zeros((data.source_rows, 10), np.int64))
    with pytest.raises(CheckpointError, match="2-D float array"):
        load_teacher(TeacherConfig(logits=tmp_path / "ints.npy"), data, quiet())
    with pytest.raises(CheckpointError, match="missing.npy: logits teacher not found"):
        load_teacher(TeacherConfig(logits=tmp_path / "missing.npy"), data, quiet())
