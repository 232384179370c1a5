"""The student API every stage and search shares: a registry student's architecture, built, loaded from a
distill or prune output, fed its input view, used as the next link's teacher, and trained from a teacher
(`distill_into`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedistill.contracts import StudentArch, TrainedStudent
from edgedistill.pipeline.config import DistillationConfig, MutualConfig, StudentConfig
from edgedistill.pipeline.data.bundle import DataBundle, Split
from edgedistill.pipeline.data.loader import to_unit
from edgedistill.pipeline.data.transforms import Normalizer, make_normalizer
from edgedistill.pipeline.distill.kd_objective import KDObjective
from edgedistill.pipeline.distill.losses import LOSSES, labelled_cross_entropy, with_mixed_labels
from edgedistill.pipeline.distill.mutual import Cohort, best_member_accuracy, cohort_loss
from edgedistill.pipeline.distill.runtime import TrainRuntime, resolve_runtime
from edgedistill.pipeline.distill.teacher import Teacher, load_state_dict_into
from edgedistill.pipeline.distill.training import BatchLoss, FitResult, fit
from edgedistill.pipeline.distill.views import Mix, ViewPolicy
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


def view_policy(recipe: DistillationConfig) -> ViewPolicy:
    """The recipe's views of each training batch (distillation.augment and hflip) as the training loop takes them."""
    a = recipe.augment
    if isinstance(a, bool):
        return ViewPolicy(shift=a, hflip=recipe.hflip)
    return ViewPolicy(shift=a.shift, hflip=recipe.hflip, crop=a.crop, color=a.color, mixup=a.mixup, cutmix=a.cutmix)


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
        "augment": view_policy(recipe),
        "runtime": resolve_runtime(recipe.device, recipe.precision),
        "workers": data.loader_workers,
    }


def kd_batch_loss(objective: KDObjective, train: Split) -> BatchLoss:
    """The training loop's loss for distillation over `train`: the objective on the student's logits, the
    teacher's outputs for the batch and the batch's labels (-1 where it has none), all on the logits' device."""
    train_y = torch.from_numpy(train.y)

    def loss_fn(logits: torch.Tensor, idx: torch.Tensor, batch: torch.Tensor, mix: Mix | None) -> torch.Tensor:
        t_logits, t_feats = objective.teacher_outputs(idx, train.rows[idx.numpy()], batch, mix)
        return objective(logits.float(), train_y[idx].to(logits.device), t_logits, t_feats, mix)

    return loss_fn


def teacher_objective(
    model: nn.Module,
    view,
    data: DataBundle,
    teacher: Teacher,
    recipe: DistillationConfig,
    runtime: TrainRuntime,
    progress: Progress,
    workdir: Path,
    world: World = SINGLE,
) -> tuple[KDObjective, str]:
    """The distillation objective of `model` (on the training device) from the teacher, with the teacher's outputs
    precomputed once over the training set when no augmentation changes them; (objective, how the teacher runs)."""
    train = data.training_set()
    example = to_unit(
        torch.from_numpy(train.images.read(train.rows[: min(8, len(train))])), data.pixel_max, runtime.device
    )
    objective = KDObjective(recipe, teacher, runtime.prepare(model), view, example, runtime)
    teacher_outputs = (
        "precomputed once"
        if not view_policy(recipe).active
        and objective.precompute(train, data.pixel_max, workdir / SCRATCH / "teacher", progress, world)
        else "live on each batch"
    )
    if not teacher.live:
        teacher_outputs = "precomputed logits (augmented views reuse their sample's logits, mixed as the images are)"
    return objective, teacher_outputs


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
    objective, teacher_outputs = teacher_objective(
        model, view, data, teacher, recipe, settings["runtime"], progress, workdir, world
    )
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


@dataclass(frozen=True)
class TrainedCohort:
    """A mutual-learning cohort at its best epoch (by its best member's validation accuracy), on the CPU."""

    fit: FitResult
    teacher_outputs: str
    archs: list[StudentArch]
    members: list[nn.Module]
    views: list[Normalizer]


def cohort_configs(student: StudentConfig, mutual: MutualConfig) -> list[StudentConfig]:
    """The cohort: the configured student first, then its peers (by default one more of the student)."""
    return [student, *(mutual.peers or [student])]


def cohort_batch_loss(train: Split, recipe: DistillationConfig, objective: KDObjective | None) -> BatchLoss:
    """The training loop's loss for a cohort over `train`: each member's labelled cross-entropy (or, learning from
    the teacher too, the recipe's distillation loss against the teacher's outputs for the batch) plus the mutual
    term (see distill.mutual)."""
    train_y = torch.from_numpy(train.y)
    mutual, logit_loss = recipe.mutual, LOSSES[recipe.loss]

    def loss_fn(logits: torch.Tensor, idx: torch.Tensor, batch: torch.Tensor, mix: Mix | None) -> torch.Tensor:
        labels = train_y[idx].to(logits.device)
        t = None
        if objective is not None:
            t = objective.teacher_outputs(idx, train.rows[idx.numpy()], batch, mix)[0].float()

        def own(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            def hard(ys: torch.Tensor) -> torch.Tensor:
                if t is None:
                    return labelled_cross_entropy(z, ys)
                return logit_loss(z, t, ys, recipe.temperature, recipe.alpha)

            return with_mixed_labels(hard, y, mix)

        return cohort_loss(logits, labels, temperature=mutual.temperature, weight=mutual.weight, own=own)

    return loss_fn


def distill_cohort(
    data: DataBundle,
    teacher: Teacher,
    student: StudentConfig,
    recipe: DistillationConfig,
    progress: Progress,
    label: str,
    workdir: Path,
    world: World = SINGLE,
) -> TrainedCohort:
    """Train the student with its peers (deep mutual learning) from the labels and each other, on the training
    split; with mutual.teacher also from the teacher, on the training split plus the transfer set. Member k is
    seeded by recipe.seed + k."""
    configs = cohort_configs(student, recipe.mutual)
    built = [fresh_student(data, cfg, recipe.seed + k) for k, cfg in enumerate(configs)]
    archs, members, views = [b[0] for b in built], [b[1] for b in built], [b[2] for b in built]
    cohort = Cohort(members, views)
    # without the teacher nothing labels the transfer set: the cohort trains on the labelled images, with the steps
    # distillation gets (as the labels-only baseline does)
    train = data.training_set() if recipe.mutual.teacher else data.train
    settings = fit_settings(recipe, data)
    objective, teacher_outputs = None, "not used: the labels and the peers"
    if recipe.mutual.teacher:
        objective, teacher_outputs = teacher_objective(
            members[0], views[0], data, teacher, recipe, settings["runtime"], progress, workdir, world
        )
    try:
        result = fit(
            cohort,
            train=train,
            loss_fn=cohort_batch_loss(train, recipe, objective),
            normalize=cohort.unit_view(),
            progress=progress,
            label=label,
            checkpoint=workdir / RESUME / "fit.pt",
            world=world,
            val_score=best_member_accuracy,
            epoch_size=len(data.training_set()),
            **settings,
        )
    finally:
        if objective is not None:
            objective.close()
    return TrainedCohort(result, teacher_outputs, archs, [m.eval() for m in cohort.members], views)
