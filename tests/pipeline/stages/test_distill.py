from __future__ import annotations

import torch

from edgedistill.pipeline.cache import StageCache
from edgedistill.pipeline.config import DataConfig, DistillationConfig, StudentConfig, TeacherConfig
from edgedistill.pipeline.data import load_data
from edgedistill.pipeline.progress import quiet
from edgedistill.pipeline.stages import STAGES, run_stage
from edgedistill.pipeline.stages.distill import DistillStage, load_student
from edgedistill.pipeline.teacher import load_teacher
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS


def test_stages_are_registered_by_name():
    assert {"distill", "export", "verify", "benchmark"} <= set(STAGES)
    assert STAGES["distill"] is DistillStage


def test_student_at_its_own_input_size_learns_from_the_teacher(tmp_path, digits_npz, digits_teacher):
    data = load_data(DataConfig(npz=digits_npz))
    teacher = load_teacher(TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher), data, quiet())
    stage = DistillStage(
        data, teacher, StudentConfig(name="dscnn", input_size=12, options={"channels": 16, "blocks": 2}),
        DistillationConfig(epochs=8, augment=False, temperature=2.0, alpha=0.7), quiet(),
    )
    out = run_stage(stage, StageCache(tmp_path))
    assert out.meta["arch"]["input_hw"] == [12, 12] and out.meta["params"] > 0 and out.meta["macs"] > 0
    assert out.meta["val_accuracy"] > 60 and len(out.meta["history"]) == 8
    assert out.meta["val_accuracy"] == max(h["val_accuracy"] for h in out.meta["history"])
    student = load_student(out)
    assert student(torch.zeros(1, 1, 12, 12)).shape == (1, 10)
    again = run_stage(stage, StageCache(tmp_path))
    assert again.cached and again.key == out.key
