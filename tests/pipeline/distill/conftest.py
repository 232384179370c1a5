"""Fixtures of the teacher tests: the digits data and the trained digits teacher as a reference (its module and
its logits on the validation split), which the ONNX, output and check tests wrap into files of other kinds."""

from __future__ import annotations

import pytest

from edgedistill.pipeline.config import DataConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.progress import quiet
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS


@pytest.fixture(scope="module")
def data(digits_npz):
    return load_data(DataConfig(npz=digits_npz))


@pytest.fixture(scope="module")
def reference(data, digits_teacher):
    """The PyTorch teacher and its logits on the validation split."""
    cfg = TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher)
    teacher = load_teacher(cfg, data, quiet())
    return teacher.module, teacher.split_logits(data.val, data.pixel_max).numpy()
