"""Distillation as the build runs it: check the teacher against the hard-label baseline, then walk the
chain teacher -> assistants -> student -> born-again generations, each link a cached distill stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from edgedistill.contracts import BaselineStudent, ChainLink, TeacherCheck, TrainedStudent
from edgedistill.pipeline.config import ProjectConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.distill.kd_objective import check_layers
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.teacher_checks import clearly_above_chance, guessing_share
from edgedistill.pipeline.stages.base import Stage
from edgedistill.pipeline.stages.baseline import BaselineStage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.pipeline.student import build_from_arch, student_arch, teacher_from_distilled
from edgedistill.pipeline.tasks import Task
from edgedistill.progress import Progress

R = TypeVar("R", bound=BaseModel)


class RunStage(Protocol):
    def __call__(self, stage: Stage[R], name: str | None = None) -> StageOutput[R]: ...


@dataclass(frozen=True)
class Distilled:
    student: StageOutput[TrainedStudent]  # the final student
    links: list[ChainLink]
    baseline: StageOutput[BaselineStudent] | None
    teacher_check: TeacherCheck
    warnings: list[str] = field(default_factory=list)


def check_teacher(
    teacher: Teacher, data: DataBundle, baseline: StageOutput[BaselineStudent] | None, task: Task
) -> tuple[TeacherCheck, list[str]]:
    """The teacher's validation score, against the student trained without it; a warning when it is not better."""
    val = data.val
    teacher_val = task.metrics(np.asarray(teacher.split_logits(val, data.pixel_max)), val.y)[task.primary_metric]
    base_val = baseline.result.val_accuracy if baseline is not None else None
    check = TeacherCheck(
        teacher_val_accuracy=teacher_val,
        baseline_val_accuracy=base_val,
        teacher_better_than_baseline=None if base_val is None else teacher_val > base_val,
    )
    warnings = []
    guessing = guessing_share(val.y, data.num_classes)
    if not clearly_above_chance(teacher_val, len(val), guessing):
        warnings.append(
            f"teacher near chance: {teacher_val:.2f}% on the validation split, where guessing scores "
            f"{100 * guessing:.2f}%; "
            "check teacher.labels, teacher.normalize and teacher.color_order"
        )
    elif base_val is not None and teacher_val <= base_val:
        warnings.append(
            f"weak teacher: {teacher_val:.2f}% on the validation split, no better than the student trained on labels alone "
            f"({base_val:.2f}%); distilling from it is likely to drag the student down"
        )
    return check, warnings


def distill(
    config: ProjectConfig, data: DataBundle, teacher: Teacher, task: Task, progress: Progress, run: RunStage
) -> Distilled:
    recipe = config.distillation
    check_layers(recipe, teacher, build_from_arch(student_arch(data, config.student)))
    baseline = run(BaselineStage(data, config.student, recipe, progress), "baseline") if recipe.baseline else None
    check, warnings = check_teacher(teacher, data, baseline, task)
    for warning in warnings:
        progress.console.print(f"[yellow]warning:[/] {warning}")
    students = [*recipe.assistants, config.student, *[config.student] * recipe.born_again]
    n_assist = len(recipe.assistants)
    links: list[ChainLink] = []
    current, out = teacher, None
    for i, student_cfg in enumerate(students):
        role = (
            "assistant" if i < n_assist else ("student" if i == n_assist else f"born-again generation {i - n_assist}")
        )
        link_recipe = recipe.link().model_copy(update={"seed": recipe.seed + i})
        out = run(
            DistillStage(data, current, student_cfg, link_recipe, progress, label=role),
            "distill" if len(students) == 1 else f"distill ({role})",
        )
        links.append(
            ChainLink(  # what the link learnt from: the teacher, or (mode mutual) its peers
                role=role, teacher=out.result.teacher, arch=out.result.arch, val_accuracy=out.result.val_accuracy
            )
        )
        if i + 1 < len(students):
            current = teacher_from_distilled(out, data)
    assert out is not None
    return Distilled(student=out, links=links, baseline=baseline, teacher_check=check, warnings=warnings)
