"""synthesize: data-free distillation's training images, made from the teacher's BatchNorm statistics and its
classes (pipeline/distill/synthesis.py), class-balanced, in batches on the training device. Each finished batch
is kept in the stage's resume folder, so a killed build synthesizes only the batches it had not finished.

In a distributed build (`--nproc N`, torchrun) the batches are made in parallel: in each round every rank makes
one of the batches still to make on its own device, and every rank receives them all (rank 0 keeps them in its
resume folder). A batch is the same whichever rank makes it: its noise and its shifts come from its own seed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedistill.contracts import SynthesizedData
from edgedistill.errors import EdgeDistillError
from edgedistill.fsutil import atomic_path
from edgedistill.pipeline.config import DistillationConfig, SyntheticConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.data.synthetic import image_grid_png
from edgedistill.pipeline.data.transforms import to_unit_tensor
from edgedistill.pipeline.distill.runtime import resolve_runtime
from edgedistill.pipeline.distill.synthesis import balanced_labels, bn_layers, synthesize_batch
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.world import current_world
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.store.cache import RESUME
from edgedistill.progress import Progress

GRID_FILE = "synthesized.png"  # the first 8 images of each class, a row per class: shipped, shown in report.html
IMAGES_FILE = "synthetic.npz"  # x: (N, H, W, C) as the source keeps its pixels (to_source_pixels), y: (N,) int64


def to_source_pixels(unit: torch.Tensor, pixel_max: float) -> np.ndarray:
    """Images in [0, 1] (NCHW) as the source stores them (NHWC): uint8 0..255, or float32 0..1 kept as they are."""
    nhwc = unit.permute(0, 2, 3, 1)
    if pixel_max > 1:
        return (nhwc * pixel_max).round_().clamp_(0, pixel_max).numpy().astype(np.uint8)
    return nhwc.clamp(0, 1).numpy().astype(np.float32)


def check_invertible(teacher: Teacher) -> None:
    """One line, before any work, when the teacher cannot be inverted: no module, or no BatchNorm statistics."""
    if teacher.module is None:
        raise EdgeDistillError(
            f"data.synthetic: the teacher ({teacher.description}) is precomputed logits, which cannot be run on "
            "synthesized images: give a PyTorch teacher with BatchNorm layers"
        )
    bn_layers(teacher.module)


@register_stage
@dataclass
class SynthesizeStage(Stage[SynthesizedData]):
    name = "synthesize"
    output_type = SynthesizedData
    version = 2
    distributed = True  # every rank makes its share of the batches
    tools = ("torch",)

    data: DataBundle  # the configured source: its classes, image shape and pixel scale
    teacher: Teacher
    synthetic: SyntheticConfig
    recipe: DistillationConfig  # its device
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "synthetic": self.synthetic.model_dump(mode="json", exclude={"test"}),  # what is measured: not made
            "teacher": self.teacher.fingerprint,
            "classes": self.data.class_names,
            "shape": list(self.data.image_shape),
            "pixel_max": self.data.pixel_max,
            "device": self.recipe.device,
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], SynthesizedData]:
        cfg, data, teacher = self.synthetic, self.data, self.teacher
        check_invertible(teacher)
        assert teacher.module is not None
        h, w, c = data.image_shape
        total = cfg.images_per_class * data.num_classes
        batches = [(start, min(cfg.batch_size, total - start)) for start in range(0, total, cfg.batch_size)]
        world = current_world()
        runtime = resolve_runtime(self.recipe.device, "fp32")  # in a distributed build, this rank's own device
        module = teacher.module.to(runtime.device)
        resume = workdir / RESUME
        resume.mkdir(parents=True, exist_ok=True)

        def kept(k: int) -> Path:
            return resume / f"batch_{k:05d}.npy"

        # rank 0's resume folder says what is left; the ranks share it out, a batch each per round
        todo = world.broadcast([k for k in range(len(batches)) if not kept(k).is_file()])
        started = time.perf_counter()
        label = f"synthesizing {total} images from the teacher ({len(batches)} batches x {cfg.steps} steps)"
        try:
            with self.progress.task(label, total=len(batches) * cfg.steps) as advance:
                advance(steps=(len(batches) - len(todo)) * cfg.steps)
                for first in range(0, len(todo), world.size):
                    mine = todo[first + world.rank] if first + world.rank < len(todo) else None
                    made = None
                    if mine is not None:
                        start, size = batches[mine]
                        labels = balanced_labels(size, data.num_classes, start)
                        on_step = advance if world.is_main else lambda: None
                        x = synthesize_batch(
                            module, teacher.run, labels, (c, h, w), cfg, runtime.device, cfg.seed + mine, on_step
                        )
                        made = (mine, to_source_pixels(x.float().cpu(), data.pixel_max))
                    for k, raw in filter(None, world.all_gather(made)):
                        with atomic_path(kept(k)) as tmp, open(tmp, "wb") as f:
                            np.save(f, raw)
                        if k != mine and world.is_main:
                            advance(steps=cfg.steps)  # another rank's batch
            x = np.concatenate([np.load(kept(k)) for k in range(len(batches))])
            y = balanced_labels(total, data.num_classes).numpy().astype(np.int64)
            agreed = 0
            with torch.no_grad():  # the classes the teacher reads in the stored pixels, on the training device
                for i in range(0, total, 256):
                    scores = teacher.run(to_unit_tensor(x[i : i + 256], data.pixel_max).to(runtime.device))
                    agreed += int((scores.argmax(1).cpu().numpy() == y[i : i + 256]).sum())
        finally:
            teacher.module.to("cpu")  # the teacher is shared with later stages, which run it on the CPU
        np.savez(workdir / IMAGES_FILE, x=x, y=y)
        (workdir / GRID_FILE).write_bytes(image_grid_png(x, y, data.num_classes))
        return {"images": IMAGES_FILE, "grid": GRID_FILE}, SynthesizedData(
            images=total,
            per_class=cfg.images_per_class,
            steps=cfg.steps,
            teacher_agreement=round(100.0 * agreed / total, 2),
            seconds=round(time.perf_counter() - started, 1),
        )
