"""prune: structured pruning of the distilled student in `steps` rounds, each followed by KD
fine-tuning from the teacher; the pruned student is saved as state_dict + pruning history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgedistill.contracts import PruneMeasure, PruningSummary, TrainedStudent, UnstructuredPruning, updated
from edgedistill.fsutil import write_json, write_torch
from edgedistill.pipeline.config import DistillationConfig, PruneConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.data.transforms import to_unit_tensor
from edgedistill.pipeline.distill.losses import labelled_cross_entropy
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.training import accuracy, evaluate
from edgedistill.pipeline.pruning import (
    UNSTRUCTURED_NOTE,
    history,
    make_masks_permanent,
    make_pruner,
    mask_smallest_weights,
    prune_step,
    search_ratio,
    weight_sparsity,
)
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.store.cache import SCRATCH, StageOutput
from edgedistill.pipeline.student import STUDENT_FILE, distill_into, load_student, student_view
from edgedistill.progress import Progress
from edgedistill.students.profile import profile_model

PRUNING_FILE = "pruning.json"


@register_stage
@dataclass
class PruneStage(Stage[TrainedStudent]):
    name = "prune"
    output_type = TrainedStudent
    version = 2
    tools = ("torch", "torch-pruning", "onnxruntime")  # onnxruntime: an ONNX teacher's outputs

    data: DataBundle
    teacher: Teacher
    student: StageOutput[TrainedStudent]  # from distill
    cfg: PruneConfig
    recipe: DistillationConfig
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "prune": self.cfg.model_dump(mode="json"),
            "recipe": self.finetune_recipe().model_dump(mode="json"),
            "student": self.student.fingerprint(),
            "data": self.data.fingerprint,
            "teacher": self.teacher.fingerprint,
        }

    def finetune_recipe(self) -> DistillationConfig:
        """Hinton KD from the teacher (hints and relations name layers whose channels just changed)."""
        return self.recipe.link().model_copy(
            update={"epochs": max(1, self.cfg.finetune_epochs), "hints": [], "relation": None}
        )

    def run(self, workdir: Path) -> tuple[dict[str, str], TrainedStudent]:
        data, cfg, arch = self.data, self.cfg, self.student.result.arch
        model = load_student(self.student)
        view = student_view(data, arch)
        shape = arch.shape
        example = torch.zeros(1, *shape)

        def val_accuracy() -> float:
            return round(accuracy(evaluate(model, data.val, view, data.pixel_max), data.val.y), 3)

        def measure(step: int, touched: list[str] | None = None) -> PruneMeasure:
            p = profile_model(model, shape)
            return PruneMeasure(
                step=step,
                params=p.params,
                macs=p.macs,
                val_accuracy=val_accuracy(),
                groups_pruned=None if touched is None else len(touched),
                touched=touched,
            )

        before = measure(0)
        ratio, pruner = None, None
        steps: list[PruneMeasure] = []
        if cfg.structured:
            ratio = search_ratio(model, example, cfg)
            pruner = make_pruner(model, example, cfg, ratio)
            taylor = self._taylor_loss(model, view) if cfg.importance == "taylor" else None
            for step in range(1, cfg.steps + 1):
                model.eval()
                touched = prune_step(pruner, model, taylor)
                if cfg.verbose:
                    for line in touched:
                        self.progress.console.print(f"prune step {step}: {line}")
                pruned = measure(step, touched)
                self._finetune(model, view, f"KD fine-tune after prune step {step}/{cfg.steps}", workdir)
                steps.append(
                    updated(pruned, val_accuracy_before_finetune=pruned.val_accuracy, val_accuracy=val_accuracy())
                )
        unstructured = None
        if cfg.unstructured is not None:
            mask_smallest_weights(model, cfg.unstructured)
            before_ft = val_accuracy()
            self._finetune(model, view, "KD fine-tune with the smallest weights held at zero", workdir)
            make_masks_permanent(model)
            unstructured = UnstructuredPruning(
                share=cfg.unstructured,
                weight_sparsity=round(weight_sparsity(model), 4),
                val_accuracy_before_finetune=before_ft,
                val_accuracy=val_accuracy(),
                note=UNSTRUCTURED_NOTE,
            )
        write_torch(workdir / STUDENT_FILE, model.state_dict())
        files = {"student": STUDENT_FILE}
        if pruner is not None:
            write_json(
                workdir / PRUNING_FILE,
                {"history": history(pruner), "arch": arch.model_dump(mode="json"), "ratio": ratio},
            )
            files["pruning"] = PRUNING_FILE
        after = measure(len(steps))
        pruning = PruningSummary(
            ratio=ratio,
            importance=cfg.importance if ratio is not None else None,
            round_to=cfg.round_to,
            before=before,
            steps=steps,
            unstructured=unstructured,
        )
        return files, updated(
            self.student.result, params=after.params, macs=after.macs, val_accuracy=after.val_accuracy, pruning=pruning
        )

    def _finetune(self, model, view, label: str, workdir: Path) -> None:
        """KD fine-tuning after a pruning step; not resumed mid-way (the pruned structure is rebuilt by rerunning)."""
        if self.cfg.finetune_epochs:
            recipe = self.finetune_recipe()
            distill_into(
                model, view, self.data, self.teacher, recipe, self.progress, label, workdir / SCRATCH, resume=False
            )

    def _taylor_loss(self, model, view):
        x = to_unit_tensor(self.data.train.images.read(self.data.train.rows[:256]), self.data.pixel_max)
        y = torch.from_numpy(self.data.train.y[:256])
        return lambda: labelled_cross_entropy(model(view(x)), y)
