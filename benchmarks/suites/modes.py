"""Distillation modes measured over seeds (issue 25): what each mode gains over the arm it replaces.

Parts (each run is one seed of one arm, cached as stages, so a rerun only trains what changed):

- example: the bundled example as `edgedistill build` runs it (MNIST, 10% of the training labels, the other 90%
  a transfer set the teacher labels; the DS-CNN student, the default recipe): the distilled student against the
  same student trained on the labels alone with the same recipe and steps (the summary line's gain).
- mutual: the same data, no teacher: a DS-CNN at half width trained alone on its 350 labels, against the same
  student trained in a pair (deep mutual learning: each member also matches its peer's softened outputs).
- views: an RGB task (int8_recovery's photo crops, 3,000 images, 10 classes; its ResNet-8 teacher trained here
  on every training label, once, about 10 minutes), 10% of the labels: the student distilled with today's
  shifts and flips against the same student distilled on consistent views (crops, mixup, cutmix, flips; the
  teacher on the same views).

"spread" is twice the larger of the two arms' seed standard deviations; a gain counts when it is larger.

    python -m edgedistill.benchmarks.suites.modes [--parts example mutual views] [--seeds 0 1 2] [--cache DIR]
        [--json benchmarks/results/modes.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.suites.distillation import test_accuracy
from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.pipeline.config import (
    AugmentConfig,
    DataConfig,
    DistillationConfig,
    ProjectConfig,
    StudentConfig,
    TeacherConfig,
    default_config,
)
from edgedistill.pipeline.data.bundle import DataBundle, load_data
from edgedistill.pipeline.distill.teacher import Teacher, load_teacher
from edgedistill.pipeline.stages.base import run_stage
from edgedistill.pipeline.stages.baseline import BaselineStage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.store.cache import StageCache, StageOutput
from edgedistill.progress import Progress


@dataclass(frozen=True)
class Arm:
    """One way of training, run once per seed: seed -> (test accuracy %, seconds it took)."""

    name: str
    run: Callable[[int], tuple[float, float]]


@dataclass(frozen=True)
class Part:
    what: str
    reference: Arm  # what the mode replaces
    mode: Arm  # the mode


def timed(out: StageOutput, data: DataBundle) -> tuple[float, float]:
    """(test accuracy, seconds of the stage: its own recorded time, also when it came from the cache)."""
    return round(test_accuracy(out, data), 3), round(out.seconds, 1)


def the_example(cache: StageCache, progress: Progress) -> tuple[ProjectConfig, DataBundle, Teacher]:
    """The bundled example's config, data and teacher."""
    config = default_config()
    data = load_data(config.data, cache.root / "data", progress)
    return config, data, load_teacher(config.teacher, data, progress)


def example_part(cache: StageCache, progress: Progress) -> Part:
    config, data, teacher = the_example(cache, progress)

    def recipe(seed: int) -> DistillationConfig:
        return config.distillation.model_copy(update={"seed": seed})

    def labels_only(seed: int) -> tuple[float, float]:
        return timed(run_stage(BaselineStage(data, config.student, recipe(seed), progress), cache), data)

    def distilled(seed: int) -> tuple[float, float]:
        return timed(run_stage(DistillStage(data, teacher, config.student, recipe(seed).link(), progress), cache), data)

    return Part(
        what=f"the bundled example: {len(data.train)} labels + {len(data.transfer)} unlabelled, "
        f"{config.student.name}, {config.distillation.epochs} epochs",
        reference=Arm("same student on the labels alone", labels_only),
        mode=Arm("distilled (the example's build)", distilled),
    )


MUTUAL_STUDENT = StudentConfig(name="dscnn", width=0.5)


def mutual_part(cache: StageCache, progress: Progress) -> Part:
    config, data, teacher = the_example(cache, progress)  # the teacher: a stage input mode mutual does not learn from

    def recipe(seed: int, **update: Any) -> DistillationConfig:
        return config.distillation.model_copy(update={"seed": seed, **update})

    def alone(seed: int) -> tuple[float, float]:
        return timed(run_stage(BaselineStage(data, MUTUAL_STUDENT, recipe(seed), progress), cache), data)

    def pair(seed: int) -> tuple[float, float]:
        mutual = recipe(seed, mode="mutual", baseline=False)
        return timed(run_stage(DistillStage(data, teacher, MUTUAL_STUDENT, mutual, progress), cache), data)

    return Part(
        what=f"{len(data.train)} labels, no teacher, {MUTUAL_STUDENT.name} at width {MUTUAL_STUDENT.width}, "
        f"{config.distillation.epochs} epochs",
        reference=Arm("trained alone", alone),
        mode=Arm("trained in a pair (the shipped member)", pair),
    )


PHOTOS = 3000  # labelled crops of the photos task (int8_recovery's), 10% of the training split keeping its labels
VIEWS_STUDENT = StudentConfig(name="resnet8", input_size=64, options={"base": 16})  # at 48 px, base 8: capacity-bound
CONSISTENT = AugmentConfig(shift=False, crop=0.35, mixup=0.2, cutmix=1.0)


def views_part(cache: StageCache, progress: Progress) -> Part:
    from edgedistill.benchmarks.suites.int8_recovery import TEACHER, TEACHER_VIEW, make_photo_crops, teacher_checkpoint

    npz = make_photo_crops(cache.root / "photos" / f"photos{PHOTOS}.npz", PHOTOS)
    checkpoint, _ = teacher_checkpoint(npz, cache.root / "photos" / "teacher.pt", epochs=30)
    data = load_data(DataConfig(npz=npz, labeled_fraction=0.1), cache.root / "data", progress)
    teacher_cfg = TeacherConfig(
        factory="edgedistill.students.resnet:resnet8",
        kwargs=TEACHER,
        checkpoint=checkpoint,
        input_size=(TEACHER_VIEW, TEACHER_VIEW),
    )
    teacher = load_teacher(teacher_cfg, data, progress)

    def recipe(seed: int, augment: bool | AugmentConfig) -> DistillationConfig:
        return DistillationConfig(epochs=15, hflip=True, augment=augment, seed=seed, baseline=False)

    def distilled(augment: bool | AugmentConfig) -> Callable[[int], tuple[float, float]]:
        return lambda seed: timed(
            run_stage(DistillStage(data, teacher, VIEWS_STUDENT, recipe(seed, augment), progress), cache), data
        )

    return Part(
        what=f"RGB photo crops (int8_recovery's photos task): {len(data.train)} labels + {len(data.transfer)} "
        f"unlabelled, ResNet-8 teacher, {VIEWS_STUDENT.name} base 16 at 64x64, 15 epochs",
        reference=Arm("KD, shifts and flips (augment: true)", distilled(True)),
        mode=Arm("KD, consistent views (crop 0.35, mixup 0.2, cutmix 1.0, flips)", distilled(CONSISTENT)),
    )


PARTS: dict[str, Callable[[StageCache, Progress], Part]] = {
    "example": example_part,
    "mutual": mutual_part,
    "views": views_part,
}


def summarize(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def measure(part: Part, seeds: list[int]) -> dict[str, Any]:
    arms: dict[str, Any] = {}
    for role, arm in (("reference", part.reference), ("mode", part.mode)):
        runs = [arm.run(seed) for seed in seeds]
        accs = [a for a, _ in runs]
        arms[role] = {
            "name": arm.name,
            "test_accuracy": accs,
            "seconds": [s for _, s in runs],
            **summarize(accs),
        }
    gain = arms["mode"]["mean"] - arms["reference"]["mean"]
    spread = 2 * max(arms["mode"]["std"], arms["reference"]["std"])
    return {
        "what": part.what,
        **arms,
        "gain": round(gain, 3),
        "spread": round(spread, 3),
        "gain_above_spread": gain > spread,
    }


def print_table(results: dict[str, Any]) -> None:
    table = Table(title=f"distillation modes: test accuracy %, mean ± std over seeds {results['seeds']}")
    for column in ("part", "reference", "mode", "gain", "spread", "longest run s"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for name, r in results["parts"].items():
        ref, mode = r["reference"], r["mode"]
        table.add_row(
            f"{name}: {r['what']}",
            f"{ref['name']}: {ref['mean']:.2f} ± {ref['std']:.2f}",
            f"{mode['name']}: {mode['mean']:.2f} ± {mode['std']:.2f}",
            f"{r['gain']:+.2f}" + ("" if r["gain_above_spread"] else " (not above the spread)"),
            f"{r['spread']:.2f}",
            f"{max(ref['seconds'] + mode['seconds']):.0f}",
        )
    Console(width=160).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgedistill" / "bench-modes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    progress, cache = Progress(Console(stderr=True)), StageCache(args.cache)
    started = time.perf_counter()
    results: dict[str, Any] = {"seeds": args.seeds, "parts": {}}
    for name in args.parts:
        results["parts"][name] = measure(PARTS[name](cache, progress), args.seeds)
    results["wall_seconds_with_cache_hits"] = round(time.perf_counter() - started, 1)
    print_table(results)
    if args.json:
        write_results(args.json, results)


if __name__ == "__main__":
    main()
