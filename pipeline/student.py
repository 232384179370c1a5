"""The student API every stage and search shares: a registry student's architecture, built, loaded from a
distill or prune output, fed its input view, used as the next link's teacher, and trained from a teacher
(`distill_into`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedistill.contracts import StudentArch, TrainedStudent
from edgedistill.pipeline.config import DistillationConfig, StudentConfig
from edgedistill.pipeline.data.bundle import DataBundle, Split
from edgedistill.pipeline.data.loader import to_unit
from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.kd_objective import KDObjective
from edgedistill.pipeline.distill.runtime import resolve_runtime
from edgedistill.pipeline.distill.teacher import Teacher, load_state_dict_into
from edgedistill.pipeline.distill.training import BatchLoss, FitResult, fit
from edgedistill.pipeline.distill.world import SINGLE, World
from edgedistill.pipeline.store.cache import RESUME, SCRATCH, StageOutput
from edgedistill.progress import Progress
from edgedistill.students.registry import build_student

STUDENT_FILE = "student.pt"


def student_input_size(data: DataBundle, cfg: StudentConfig) -> tuple[int, int]:
    h, w, _ = data.image_shape
    return (cfg.input_size, cfg.input_size) if cfg.input_size else (h, w)


def student_arch(data: DataBundle, cfg: StudentConfig) -> StudentArch:
    """Everything needed to rebuild the student module (saved beside its state_dict)."""
    h, w = student_input_size(data, cfg)
    return StudentArch(
        name=cfg.name,
        num_classes=data.num_classes,
        in_channels=data.image_shape[2],
        input_size=h,
        input_hw=(h, w),
        width=cfg.width,
        options=dict(cfg.options),
    )


def build_from_arch(arch: StudentArch) -> nn.Module:
    return build_student(
        arch.name,
        num_classes=arch.num_classes,
        in_channels=arch.in_channels,
        input_size=arch.input_size,
        width=arch.width,
        options=arch.options,
    )


def load_student(output: StageOutput[TrainedStudent]) -> nn.Module:
    """Rebuild the student from a distill or prune output (state_dict loaded with weights_only=True)."""
    return load_student_files(
        output.result.arch, output.path("student"), output.path("pruning") if "pruning" in output.files else None
    )


def load_student_files(arch: StudentArch, state_dict: Path, pruning: Path | None = None) -> nn.Module:
    """Rebuild a student from its arch, its state_dict file and, if it was pruned, its pruning history (JSON)."""
    model = build_from_arch(arch)
    if pruning is not None:
        from edgedistill.pipeline.pruning import replay

        replay(model, (1, *arch.shape), json.loads(pruning.read_text())["history"])
    load_state_dict_into(model, state_dict)
    return model.eval()


def student_view(data: DataBundle, arch: StudentArch):
    """Images in [0, 1] (NCHW) -> the student's input: resized to its input size, normalised with the data's mean/std."""
    return make_normalizer(data.mean, data.std, arch.input_hw)


def teacher_from_distilled(output: StageOutput[TrainedStudent], data: DataBundle) -> Teacher:
    """A distilled student as the teacher of the next link (teacher-assistant chains, born-again generations)."""
    arch = output.result.arch
    return Teacher(
        description=f"distilled {arch.name} (width {arch.width}, val {output.result.val_accuracy:.2f}%)",
        checkpoint=output.path("student"),
        fingerprint=output.fingerprint(),
        module=load_student(output),
        view=student_view(data, arch),
        input_hw=arch.input_hw,
    )


def fresh_student(data: DataBundle, cfg: StudentConfig, seed: int) -> tuple[StudentArch, nn.Module, Any]:
    """(arch, a freshly initialised student seeded by `seed`, its input view)."""
    arch = student_arch(data, cfg)
    torch.manual_seed(seed)
    return arch, build_from_arch(arch), student_view(data, arch)


def fit_settings(recipe: DistillationConfig, data: DataBundle) -> dict[str, Any]:
    """The keyword arguments of training.fit every student training shares: validation split, recipe, device."""
    return {
        "val": data.val,
        "pixel_max": data.pixel_max,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "lr": recipe.lr,
        "weight_decay": recipe.weight_decay,
        "seed": recipe.seed,
        "augment": recipe.augment,
        "hflip": recipe.hflip,
        "runtime": resolve_runtime(recipe.device, recipe.precision),
        "workers": data.loader_workers,
    }


def kd_batch_loss(objective: KDObjective, train: Split) -> BatchLoss:
    """The training loop's loss for distillation over `train`: the objective on the student's logits, the
    teacher's outputs for the batch and the batch's labels (-1 where it has none), all on the logits' device."""
    train_y = torch.from_numpy(train.y)

    def loss_fn(logits: torch.Tensor, idx: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        t_logits, t_feats = objective.teacher_outputs(idx, train.rows[idx.numpy()], batch)
        return objective(logits.float(), train_y[idx].to(logits.device), t_logits, t_feats)

    return loss_fn


def distill_into(
    model: nn.Module,
    view,
    data: DataBundle,
    teacher: Teacher,
    recipe: DistillationConfig,
    progress: Progress,
    label: str,
    workdir: Path,
    resume: bool = True,
    world: World = SINGLE,
    epoch_start: Callable[[int], None] | None = None,
) -> tuple[FitResult, str]:
    """Train `model` from the teacher on the training split plus the transfer set; (fit result, how the teacher ran).

    workdir holds the precomputed teacher outputs and, with resume, the checkpoint of every finished epoch."""
    train = data.training_set()
    settings = fit_settings(recipe, data)
    runtime = settings["runtime"]
    example = to_unit(
        torch.from_numpy(train.images.read(train.rows[: min(8, len(train))])), data.pixel_max, runtime.device
    )
    objective = KDObjective(recipe, teacher, runtime.prepare(model), view, example, runtime)
    augmenting = recipe.augment or recipe.hflip
    teacher_outputs = (
        "precomputed once"
        if not augmenting
        and objective.precompute(train, data.pixel_max, workdir / SCRATCH / "teacher", progress, world)
        else "live on each batch"
    )
    if not teacher.live:
        teacher_outputs = "precomputed logits (augmented views reuse their sample's logits)"

    try:
        result = fit(
            model,
            train=train,
            loss_fn=kd_batch_loss(objective, train),
            normalize=view,
            progress=progress,
            label=label,
            extra=objective,
            checkpoint=workdir / RESUME / "fit.pt" if resume else None,
            world=world,
            epoch_start=epoch_start,
            **settings,
        )
    finally:
        objective.close()
    return result, teacher_outputs
