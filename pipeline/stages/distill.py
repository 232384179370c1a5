"""distill: train the registry student from the teacher (soft targets, and hints or relations when
configured) on the training split plus the transfer set, and from the hard labels where they exist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.contracts import CohortMember, SampleCounts, TrainedStudent
from edgedistill.fsutil import write_torch
from edgedistill.pipeline.config import DistillationConfig, StudentConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.training import accuracy, evaluate
from edgedistill.pipeline.distill.world import current_world
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.student import STUDENT_FILE, cohort_configs, distill_cohort, distill_into, fresh_student
from edgedistill.progress import Progress
from edgedistill.students.profile import profile_model


@register_stage
@dataclass
class DistillStage(Stage[TrainedStudent]):
    name = "distill"
    output_type = TrainedStudent
    version = 2
    distributed = True
    tools = ("torch", "onnxruntime")  # onnxruntime: an ONNX teacher's outputs

    data: DataBundle
    teacher: Teacher
    student: StudentConfig
    recipe: DistillationConfig
    progress: Progress
    label: str = "student"

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "student": self.student.model_dump(mode="json"),
            "distillation": self.recipe.model_dump(mode="json"),
            "data": self.data.fingerprint,
            "teacher": self.teacher.fingerprint,
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], TrainedStudent]:
        if self.recipe.mode == "mutual":
            return self._run_cohort(workdir)
        data, r = self.data, self.recipe
        arch, model, view = fresh_student(data, self.student, r.seed)
        result, teacher_outputs = distill_into(
            model,
            view,
            data,
            self.teacher,
            r,
            self.progress,
            f"distilling {self.label} ({arch.name})",
            workdir,
            world=current_world(),
        )
        write_torch(workdir / STUDENT_FILE, result.best_state)
        profile = profile_model(model, arch.shape)
        return {"student": STUDENT_FILE}, TrainedStudent(
            arch=arch,
            teacher=self.teacher.description,
            params=profile.params,
            macs=profile.macs,
            samples=SampleCounts(labelled=len(data.train), transfer=len(data.transfer)),
            teacher_outputs=teacher_outputs,
            best_epoch=result.best_epoch,
            val_accuracy=round(result.best_val_accuracy, 3),
            history=result.history,
        )

    def _run_cohort(self, workdir: Path) -> tuple[dict[str, str], TrainedStudent]:
        """Mode mutual: the cohort trained together, every member measured on validation and test, the best on
        validation kept (the configured student on a tie)."""
        data, r = self.data, self.recipe
        names = ", ".join(cfg.name for cfg in cohort_configs(self.student, r.mutual))
        trained = distill_cohort(
            data,
            self.teacher,
            self.student,
            r,
            self.progress,
            f"distilling a cohort ({names})",
            workdir,
            current_world(),
        )
        measured = []
        for arch, member, view in zip(trained.archs, trained.members, trained.views, strict=True):
            val = accuracy(evaluate(member, data.val, view, data.pixel_max), data.val.y)
            test = accuracy(evaluate(member, data.test, view, data.pixel_max), data.test.y)
            measured.append((arch, member, profile_model(member, arch.shape), val, test))
        best = max(range(len(measured)), key=lambda k: (measured[k][3], -k))
        arch, model, profile, val, _ = measured[best]
        write_torch(workdir / STUDENT_FILE, model.state_dict())  # on the CPU: fit hands the cohort back there
        teacher = f"its {len(measured) - 1} peer(s) in a cohort (mutual learning)"
        return {"student": STUDENT_FILE}, TrainedStudent(
            arch=arch,
            teacher=f"{teacher} and {self.teacher.description}" if r.mutual.teacher else teacher,
            params=profile.params,
            macs=profile.macs,
            samples=SampleCounts(labelled=len(data.train), transfer=len(data.transfer)),
            teacher_outputs=trained.teacher_outputs,
            best_epoch=trained.fit.best_epoch,
            val_accuracy=round(val, 3),
            history=trained.fit.history,
            cohort=[
                CohortMember(
                    arch=a,
                    params=p.params,
                    macs=p.macs,
                    val_accuracy=round(v, 3),
                    test_accuracy=round(t, 3),
                    shipped=k == best,
                )
                for k, (a, _, p, v, t) in enumerate(measured)
            ],
        )
