"""The distillation objective of one teacher -> student link: the registered logit loss (Hinton by
default) plus, when configured, FitNets hints through learned adapters and RKD on embeddings.

The teacher's outputs (logits and tapped features) come from a live forward pass on the student's
augmented view, or, without augmentation, from one pass over the training set into memory-mapped files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import DistillationConfig
from edgedistill.pipeline.data.bundle import Split
from edgedistill.pipeline.data.loader import batches_of, sequential_batches, to_unit
from edgedistill.pipeline.data.store import RowWriter, map_rows
from edgedistill.pipeline.distill.features import FeatureTap, HintAdapter, feature_shape, last_linear
from edgedistill.pipeline.distill.losses import (
    LOSSES,
    hint_loss,
    mixed_teacher_logits,
    rkd_angle,
    rkd_distance,
    with_mixed_labels,
)
from edgedistill.pipeline.distill.runtime import CPU, TrainRuntime
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.training import EVAL_BYTES
from edgedistill.pipeline.distill.views import Mix
from edgedistill.pipeline.distill.world import SINGLE, World
from edgedistill.progress import Progress

EMBEDDING = "embedding"
LOGITS = "logits"
PRECOMPUTE_LIMIT_BYTES = 1 << 30  # keep precomputed teacher features in memory up to 1 GiB, else run the teacher live


def _feature_paths(recipe: DistillationConfig, teacher_module: nn.Module, student: nn.Module) -> tuple[dict, dict]:
    """(teacher taps, student taps): key -> (module path, the config field naming it)."""
    teacher_taps, student_taps = {}, {}
    for i, hint in enumerate(recipe.hints):
        teacher_taps[f"hint{i}"] = (hint.teacher, f"distillation.hints[{i}].teacher")
        student_taps[f"hint{i}"] = (hint.student, f"distillation.hints[{i}].student")
    rel = recipe.relation
    if rel is not None:
        t_field, s_field = "distillation.relation.teacher", "distillation.relation.student"
        teacher_taps[EMBEDDING] = (rel.teacher or last_linear(teacher_module, t_field), t_field)
        student_taps[EMBEDDING] = (rel.student or last_linear(student, s_field), s_field)
    return teacher_taps, student_taps


def check_layers(recipe: DistillationConfig, teacher: Teacher, student: nn.Module) -> None:
    """Fail before any training when a hint or relation names a layer that is not there (or cannot be tapped)."""
    if (recipe.hints or recipe.relation) and teacher.module is None:
        raise ConfigError(
            "distillation.hints/relation: precomputed teacher logits have no layers; these methods need a teacher model"
        )
    if teacher.module is None:
        return
    teacher_taps, student_taps = _feature_paths(recipe, teacher.module, student)
    for model, taps in ((teacher.module, teacher_taps), (student, student_taps)):
        if taps:
            FeatureTap(model, taps).close()


class KDObjective(nn.Module):
    """Loss of one link. Its parameters (hint adapters) train with the student and are then dropped."""

    def __init__(
        self,
        recipe: DistillationConfig,
        teacher: Teacher,
        student: nn.Module,
        student_view: Callable[[torch.Tensor], torch.Tensor],
        example: torch.Tensor,
        runtime: TrainRuntime = CPU,
    ) -> None:
        """example: a few training images in [0, 1] (NCHW), to read the shapes of the tapped features."""
        super().__init__()
        self.runtime = runtime
        self.recipe, self.teacher, self.logit_loss = recipe, teacher, LOSSES[recipe.loss]
        check_layers(recipe, teacher, student)
        if teacher.module is not None:
            runtime.prepare(teacher.module)  # on the device before anything runs it (the feature shapes below)
        teacher_taps, student_taps = (
            _feature_paths(recipe, teacher.module, student) if teacher.module is not None else ({}, {})
        )
        self.teacher_tap = FeatureTap(teacher.module, teacher_taps) if teacher_taps else None
        self.student_tap = FeatureTap(student, student_taps) if student_taps else None
        self.adapters = nn.ModuleDict()
        if recipe.hints:
            assert self.teacher_tap is not None and self.student_tap is not None and teacher.module is not None
            t_shapes = feature_shape(teacher.module, self.teacher_tap, teacher.view(example))
            s_shapes = feature_shape(student, self.student_tap, student_view(example))
            for i in range(len(recipe.hints)):
                self.adapters[f"hint{i}"] = HintAdapter(s_shapes[f"hint{i}"], t_shapes[f"hint{i}"])
        self._precomputed: dict[str, np.ndarray] | None = None

    def precompute(
        self,
        train: Split,
        pixel_max: float,
        folder: Path,
        progress: Progress,
        world: World = SINGLE,
        batch_size: int = 256,
    ) -> bool:
        """Run the teacher once over the (unaugmented) training set, in batches, into memory-mapped files in
        `folder` (logits, and tapped features up to PRECOMPUTE_LIMIT_BYTES; past that, False: run it live).

        In a distributed world the ranks take turns: each runs the teacher on every size-th batch, and every
        rank receives every batch's outputs through the process group (no shared folder needed, so several
        machines work too), so the teacher runs once over the data, not once per rank."""
        if self.teacher.module is None:  # precomputed logits: read from their memory-mapped file per batch
            return True
        folder.mkdir(parents=True, exist_ok=True)
        device = self.runtime.device
        writers: dict[str, RowWriter] = {}
        batches = sequential_batches(len(train), train.rows_per(EVAL_BYTES, 4, cap=batch_size))
        mine = iter(batches_of(train, world.shard(batches), 0, device))
        with progress.task("running the teacher over the training set", total=len(train), unit="images") as advance:
            for start in range(0, len(batches), world.size):
                turn = batches[start : start + world.size]
                outputs = None
                if world.rank < len(turn):
                    _, raw = next(mine)
                    logits, feats = self._run_teacher(to_unit(raw, pixel_max, device))
                    outputs = {k: v.float().cpu().numpy() for k, v in {LOGITS: logits, **feats}.items()}
                for named in world.all_gather(outputs)[: len(turn)]:
                    if not writers:
                        per_row = sum(v[0].nbytes for k, v in named.items() if k != LOGITS)
                        if per_row * len(train) > PRECOMPUTE_LIMIT_BYTES:
                            return False
                        writers = {
                            k: RowWriter(folder / f"teacher_{k}.bin", v.shape[1:], np.float32) for k, v in named.items()
                        }
                    for k, v in named.items():
                        writers[k].write(v)
                    advance(steps=len(named[LOGITS]))
        self._precomputed = {k: map_rows(w.path, "float32", w.close()) for k, w in writers.items()}
        return True

    def _run_teacher(self, unit_batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        assert self.teacher.module is not None
        with torch.no_grad(), self.runtime.autocast():
            logits = self.teacher.run(unit_batch)
        feats = {k: v.detach().float() for k, v in self.teacher_tap.take().items()} if self.teacher_tap else {}
        return logits.float(), feats

    def teacher_outputs(
        self, idx: torch.Tensor, rows: np.ndarray, unit_batch: torch.Tensor, mix: Mix | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Teacher logits and features for a batch: training-set positions idx, source rows, images as the student
        sees them (a live teacher runs on them, mix and all; logits from a file are mixed as the images were)."""
        device = unit_batch.device
        if self._precomputed is not None:
            at = idx.numpy()
            got = {k: torch.from_numpy(np.asarray(v[at], np.float32)).to(device) for k, v in self._precomputed.items()}
            return got.pop(LOGITS), got
        if not self.teacher.live:
            return mixed_teacher_logits(self.teacher.logits(rows, unit_batch).to(device), mix), {}
        return self._run_teacher(unit_batch)

    def forward(
        self,
        student_logits: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor,
        teacher_feats: dict,
        mix: Mix | None = None,
    ) -> torch.Tensor:
        r = self.recipe
        total = with_mixed_labels(
            lambda y: self.logit_loss(student_logits, teacher_logits, y, r.temperature, r.alpha), labels, mix
        )
        student_feats = self.student_tap.take() if self.student_tap else {}
        for i, hint in enumerate(r.hints):
            key = f"hint{i}"
            total = total + hint.weight * hint_loss(self.adapters[key](student_feats[key]), teacher_feats[key])
        if r.relation is not None:
            s, t = student_feats[EMBEDDING], teacher_feats[EMBEDDING]
            if r.relation.distance:
                total = total + r.relation.distance * rkd_distance(s, t)
            if r.relation.angle:
                total = total + r.relation.angle * rkd_angle(s, t)
        return total

    def close(self) -> None:
        for tap in (self.teacher_tap, self.student_tap):
            if tap is not None:
                tap.close()
        if self.teacher.module is not None:
            self.teacher.module.to("cpu")  # the teacher is shared with later stages, which run on the CPU
        self._precomputed = None
