"""distill: train the registry student from the teacher's soft targets and the hard labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedistill.pipeline.cache import StageOutput
from edgedistill.pipeline.config import DistillationConfig, StudentConfig
from edgedistill.pipeline.data import DataBundle
from edgedistill.pipeline.losses import LOSSES
from edgedistill.pipeline.progress import Progress
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.teacher import Teacher, load_state_dict_into
from edgedistill.pipeline.training import fit, make_normalizer, predict_logits, to_unit_tensor
from edgedistill.students.profile import profile_model
from edgedistill.students.registry import build_student

STUDENT_FILE = "student.pt"


def student_input_size(data: DataBundle, cfg: StudentConfig) -> tuple[int, int]:
    h, w, _ = data.image_shape
    return (cfg.input_size, cfg.input_size) if cfg.input_size else (h, w)


def student_arch(data: DataBundle, cfg: StudentConfig) -> dict[str, Any]:
    """Everything needed to rebuild the student module (saved beside its state_dict)."""
    h, w = student_input_size(data, cfg)
    return {
        "name": cfg.name,
        "num_classes": data.num_classes,
        "in_channels": data.image_shape[2],
        "input_size": h,
        "input_hw": [h, w],
        "width": cfg.width,
        "options": dict(cfg.options),
    }


def build_from_arch(arch: dict[str, Any]) -> nn.Module:
    return build_student(
        arch["name"],
        num_classes=arch["num_classes"],
        in_channels=arch["in_channels"],
        input_size=arch["input_size"],
        width=arch["width"],
        options=arch["options"],
    )


def load_student(output: StageOutput) -> nn.Module:
    """Rebuild the distilled student from a distill output (state_dict loaded with weights_only=True)."""
    model = build_from_arch(output.meta["arch"])
    load_state_dict_into(model, output.path("student"))
    return model.eval()


@register_stage
@dataclass
class DistillStage(Stage):
    name = "distill"
    version = 1

    data: DataBundle
    teacher: Teacher
    student: StudentConfig
    recipe: DistillationConfig
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "student": self.student.model_dump(mode="json"),
            "distillation": self.recipe.model_dump(mode="json"),
            "data": self.data.fingerprint,
            "teacher": self.teacher.fingerprint,
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], dict[str, Any]]:
        data, r = self.data, self.recipe
        arch = student_arch(data, self.student)
        torch.manual_seed(r.seed)
        model = build_from_arch(arch)
        size = tuple(arch["input_hw"])
        teacher_norm = make_normalizer(data.mean, data.std)
        student_norm = make_normalizer(data.mean, data.std, size)  # type: ignore[arg-type]
        train_x = to_unit_tensor(data.train.x, data.pixel_max)
        train_y = torch.from_numpy(data.train.y)
        loss = LOSSES[r.loss]
        cached_teacher = None if r.augment else predict_logits(self.teacher.module, teacher_norm(train_x))

        def loss_fn(logits: torch.Tensor, idx: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
            if cached_teacher is not None:
                t = cached_teacher[idx]
            else:
                with torch.no_grad():
                    t = self.teacher.module(teacher_norm(batch))  # the same augmented view as the student
            return loss(logits, t, train_y[idx], r.temperature, r.alpha)

        self.teacher.module.eval()
        result = fit(
            model,
            train_x=train_x,
            loss_fn=loss_fn,
            val_x=to_unit_tensor(data.val.x, data.pixel_max),
            val_y=torch.from_numpy(data.val.y),
            normalize=student_norm,
            epochs=r.epochs,
            batch_size=r.batch_size,
            lr=r.lr,
            weight_decay=r.weight_decay,
            seed=r.seed,
            augment=r.augment,
            progress=self.progress,
            label=f"distilling {arch['name']}",
        )
        torch.save(result.best_state, workdir / STUDENT_FILE)
        profile = profile_model(model, (arch["in_channels"], *size))
        meta = {
            "arch": arch,
            "params": profile.params,
            "macs": profile.macs,
            "best_epoch": result.best_epoch,
            "val_accuracy": round(result.best_val_accuracy, 3),
            "history": result.history,
        }
        return {"student": STUDENT_FILE}, meta
