"""A distilled student shared by the stages that start from one (prune, qat)."""

from __future__ import annotations

import pytest

from edgedistill.pipeline.config import DataConfig, DistillationConfig, StudentConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.stages import run_stage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.store.cache import StageCache
from edgedistill.progress import quiet
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS

STUDENT = StudentConfig(name="dscnn", options={"channels": 32, "blocks": 2})
RECIPE = DistillationConfig(epochs=8, augment=False)


@pytest.fixture(scope="module")
def distilled(digits_npz, digits_teacher, tmp_path_factory):
    data = load_data(DataConfig(npz=digits_npz))
    teacher = load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher), data, quiet()
    )
    cache = StageCache(tmp_path_factory.mktemp("cache"))
    return data, teacher, cache, run_stage(DistillStage(data, teacher, STUDENT, RECIPE, quiet()), cache)
