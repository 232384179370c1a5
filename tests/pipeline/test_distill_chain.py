"""The distillation chain as build runs it: teacher check against the baseline, assistants, born-again."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from edgedistill.pipeline.config import config_from_dict
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.distill_chain import check_teacher, distill
from edgedistill.pipeline.stages import run_stage
from edgedistill.pipeline.store.cache import StageCache
from edgedistill.pipeline.tasks import get_task
from edgedistill.progress import quiet
from edgedistill.students.resnet import resnet8
from tests.conftest import TEACHER_KWARGS, tiny_config

TASK = get_task("classification")


def _run(cache, names):
    def run(stage, name=None):
        names.append(name)
        return run_stage(stage, cache)

    return run


def test_teacher_assistant_then_born_again_each_link_taught_by_the_previous(tmp_path, digits_npz, digits_teacher):
    cfg = tiny_config(digits_npz, digits_teacher)
    cfg["distillation"].update(epochs=3, assistants=[{"name": "resnet8", "options": {"base": 8}}], born_again=1)
    config = config_from_dict(cfg)
    data = load_data(config.data)
    teacher = load_teacher(config.teacher, data, quiet())
    names: list = []
    result = distill(config, data, teacher, get_task("classification"), quiet(), _run(StageCache(tmp_path), names))
    assert names == ["baseline", "distill (assistant)", "distill (student)", "distill (born-again generation 1)"]
    roles = [(link.role, link.arch.name) for link in result.links]
    assert roles == [("assistant", "resnet8"), ("student", "dscnn"), ("born-again generation 1", "dscnn")]
    assert result.links[0].teacher == teacher.description
    assert result.links[1].teacher.startswith("distilled resnet8") and result.links[2].teacher.startswith(
        "distilled dscnn"
    )
    assert result.student.result.arch.name == "dscnn" and result.student.result.teacher == result.links[2].teacher
    assert result.teacher_check.teacher_better_than_baseline and not result.warnings


def test_a_teacher_near_chance_is_flagged_with_or_without_a_baseline(tmp_path, digits_npz):
    torch.manual_seed(0)
    untrained = tmp_path / "untrained.pt"
    torch.save(resnet8(**TEACHER_KWARGS).state_dict(), untrained)
    cfg = tiny_config(digits_npz, untrained)
    cfg["distillation"].update(epochs=3)
    config = config_from_dict(cfg)
    data = load_data(config.data)
    names: list = []
    result = distill(
        config,
        data,
        load_teacher(config.teacher, data, quiet()),
        get_task("classification"),
        quiet(),
        _run(StageCache(tmp_path), names),
    )
    check = result.teacher_check
    assert (
        check.teacher_val_accuracy < 30 < (check.baseline_val_accuracy or 0) and not check.teacher_better_than_baseline
    )
    assert len(result.warnings) == 1 and result.warnings[0].startswith("teacher near chance:")
    assert "check teacher.labels, teacher.normalize and teacher.color_order" in result.warnings[0]
    # and without a baseline to compare with, the same warning
    _, warnings = check_teacher(result_teacher := load_teacher(config.teacher, data, quiet()), data, None, TASK)
    assert result_teacher.module is not None and [w.split(":")[0] for w in warnings] == ["teacher near chance"]


def test_a_teacher_no_better_than_labels_alone_is_flagged(digits_npz, digits_teacher):
    config = config_from_dict(tiny_config(digits_npz, digits_teacher))
    data = load_data(config.data)
    teacher = load_teacher(config.teacher, data, quiet())
    check, warnings = check_teacher(teacher, data, None, TASK)
    assert check.teacher_val_accuracy > 80 and warnings == []
    baseline = SimpleNamespace(result=SimpleNamespace(val_accuracy=100.0))  # a student on labels alone at 100%
    _, warnings = check_teacher(teacher, data, baseline, TASK)  # type: ignore[arg-type]
    assert len(warnings) == 1 and warnings[0].startswith("weak teacher:") and "drag the student down" in warnings[0]
