"""baseline: the same student trained on the hard labels alone, with the same recipe and as many
optimizer steps as distillation takes. It is what distillation has to beat, and what the teacher
is checked against before distilling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgedistill.contracts import BaselineStudent
from edgedistill.fsutil import write_torch
from edgedistill.pipeline.config import DistillationConfig, StudentConfig
from edgedistill.pipeline.data.bundle import DataBundle, Split
from edgedistill.pipeline.distill.losses import labelled_cross_entropy, with_mixed_labels
from edgedistill.pipeline.distill.training import BatchLoss, accuracy, evaluate, fit
from edgedistill.pipeline.distill.views import Mix
from edgedistill.pipeline.distill.world import current_world
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.store.cache import RESUME
from edgedistill.pipeline.student import STUDENT_FILE, fit_settings, fresh_student
from edgedistill.progress import Progress
from edgedistill.students.profile import profile_model


def label_batch_loss(train: Split) -> BatchLoss:
    """The training loop's loss for training on labels alone: cross-entropy on the labelled samples of `train`."""
    train_y = torch.from_numpy(train.y)

    def loss_fn(logits: torch.Tensor, idx: torch.Tensor, _batch: torch.Tensor, mix: Mix | None) -> torch.Tensor:
        return with_mixed_labels(
            lambda labels: labelled_cross_entropy(logits.float(), labels), train_y[idx].to(logits.device), mix
        )

    return loss_fn


@register_stage
@dataclass
class BaselineStage(Stage[BaselineStudent]):
    name = "baseline"
    output_type = BaselineStudent
    version = 2
    distributed = True
    tools = ("torch",)

    data: DataBundle
    student: StudentConfig
    recipe: DistillationConfig
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        r = self.recipe
        return {
            "student": self.student.model_dump(mode="json"),
            "recipe": r.model_dump(
                mode="json",
                include={
                    "epochs",
                    "batch_size",
                    "lr",
                    "weight_decay",
                    "augment",
                    "hflip",
                    "seed",
                    "device",
                    "precision",
                },
            ),
            "data": self.data.fingerprint,
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], BaselineStudent]:
        data, r = self.data, self.recipe
        arch, model, view = fresh_student(data, self.student, r.seed)
        result = fit(
            model,
            train=data.train,
            loss_fn=label_batch_loss(data.train),
            normalize=view,
            epoch_size=len(data.train) + len(data.transfer),  # the steps distillation gets
            progress=self.progress,
            label=f"baseline: {arch.name} on {len(data.train)} labels alone",
            checkpoint=workdir / RESUME / "fit.pt",
            world=current_world(),
            **fit_settings(r, data),
        )
        write_torch(workdir / STUDENT_FILE, result.best_state)
        test_logits = evaluate(model, data.test, view, data.pixel_max)
        profile = profile_model(model, arch.shape)
        return {"student": STUDENT_FILE}, BaselineStudent(
            arch=arch,
            params=profile.params,
            macs=profile.macs,
            labelled_samples=len(data.train),
            best_epoch=result.best_epoch,
            val_accuracy=round(result.best_val_accuracy, 3),
            test_accuracy=round(accuracy(test_logits, data.test.y), 3),
            history=result.history,
        )
