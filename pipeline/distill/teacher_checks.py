"""Checks that catch a teacher which silently does not fit the data, before any training: its classes in another
order than the data's, or images prepared otherwise than it was trained on. Both measure the teacher on up to
CHECK_IMAGES labelled validation images and stop the build in one line that names the fix."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from edgedistill.errors import CheckpointError
from edgedistill.pipeline.data.bundle import UNLABELED, DataBundle, Split
from edgedistill.pipeline.distill.teacher import Teacher, TeacherView
from edgedistill.pipeline.tasks import Task
from edgedistill.progress import Progress

CHECK_IMAGES = 512
CLASS_ORDER_POINTS = 20.0  # a class assignment must beat the data's order by this much to stop the build
PREPROCESSING_POINTS = 10.0  # a convention must beat the configured preprocessing by this much
MIN_MAPPED_SCORE = 50.0  # ... and leave a teacher worth distilling from
CHANCE_SIGMAS = 4.0  # ... and be this many binomial standard deviations above guessing (not noise of a small split)
# guessing: the best constant answer, the largest class's share (a teacher stuck on one class, relabelled, scores it)
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CAFFE_BGR_MEAN = [103.939 / 255, 116.779 / 255, 123.68 / 255]  # OpenCV/Caffe models: BGR pixels minus the mean, 0..255


@dataclass(frozen=True)
class Convention:
    """A common way of preparing images for a model, in the terms of the config that selects it."""

    name: str
    mean: list[float]
    std: list[float]
    bgr: bool = False

    def setting(self) -> str:
        mean = [round(m, 4) for m in self.mean]
        std = [round(s, 5) for s in self.std]
        order = ", teacher.color_order: BGR" if self.bgr else ""
        return f"teacher.normalize: {{mean: {mean}, std: {std}}}{order}"


def conventions(channels: int) -> list[Convention]:
    grey = channels == 1
    common = [
        Convention("pixels scaled to 0..1", [0.0] * channels, [1.0] * channels),
        Convention("pixels scaled to -1..1", [0.5] * channels, [0.5] * channels),
        Convention("raw 0..255 pixels", [0.0] * channels, [1 / 255] * channels),
    ]
    if grey:
        return common
    return [
        Convention("ImageNet mean/std", IMAGENET_MEAN, IMAGENET_STD),
        *common,
        Convention("ImageNet mean/std on BGR", IMAGENET_MEAN[::-1], IMAGENET_STD[::-1], bgr=True),
        Convention("Caffe-style BGR minus the mean", CAFFE_BGR_MEAN, [1 / 255] * 3, bgr=True),
    ]


def check_teacher_fit(teacher: Teacher, data: DataBundle, task: Task, progress: Progress) -> None:
    """Stop when the teacher's class order or preprocessing is wrong for the data; one line when it cannot tell."""
    sample = _labelled_sample(data.val)
    if sample is None:
        progress.console.print("teacher checks skipped: the validation split has no labels")
        return
    with progress.task(f"checking the teacher on {len(sample)} validation images"):
        outputs = np.asarray(teacher.split_logits(sample, data.pixel_max))
        guessing = guessing_share(sample.y, data.num_classes)
        _check_class_order(teacher, outputs, sample.y, data.class_names, task, guessing)
        if teacher.module is not None and not teacher.takes_raw_pixels:
            score = task.metrics(outputs, sample.y)[task.primary_metric]
            _check_preprocessing(teacher, sample, data, task, score, guessing)


def _labelled_sample(val: Split) -> Split | None:
    """Up to CHECK_IMAGES labelled validation images, spread over the split (which is sorted by source row)."""
    labelled = np.flatnonzero(val.y != UNLABELED)
    if not len(labelled):
        return None
    picks = labelled[np.unique(np.linspace(0, len(labelled) - 1, min(CHECK_IMAGES, len(labelled))).round().astype(int))]
    return val.subset(picks)


def guessing_share(y: np.ndarray, classes: int) -> float:
    """What guessing scores on these labels, as a fraction: the largest class's share (at least 1/classes)."""
    counts = np.bincount(y[y >= 0], minlength=classes)
    return max(1.0 / classes, float(counts.max()) / max(1, int(counts.sum())))


def clearly_above_chance(score: float, n: int, guessing: float) -> bool:
    """Whether a top-1 score in percent over n images is beyond what guessing (a fraction) reaches by luck."""
    p = min(guessing, 1.0 - 1e-9)
    return score >= 100.0 * (p + CHANCE_SIGMAS * math.sqrt(p * (1 - p) / n))


def _check_class_order(
    teacher: Teacher, outputs: np.ndarray, y: np.ndarray, names: list[str], task: Task, guessing: float
) -> None:
    """The best one-to-one assignment of the teacher's classes to the labels (Hungarian, on the confusion matrix)
    against the data's own order."""
    predicted = task.class_predictions(outputs)
    if predicted is None:
        return
    k = len(names)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (predicted, y), 1)
    rows, cols = linear_sum_assignment(-confusion)
    n = len(y)
    as_is = 100.0 * np.trace(confusion) / n
    mapped = 100.0 * confusion[rows, cols].sum() / n
    if (
        mapped - as_is <= CLASS_ORDER_POINTS
        or mapped < MIN_MAPPED_SCORE
        or not clearly_above_chance(mapped, n, guessing)
    ):
        return
    moved = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if r != c]
    class_map = teacher.class_map
    if class_map is None:  # the teacher's outputs are the data's classes in the data's order
        shown = [f"its output {r} is {names[c]!r}" for r, c in moved]
        order = [names[c] for c in cols[np.argsort(rows)]]
        fix = f"teacher.labels: {order}" if k <= 20 else "teacher.labels: the teacher's class names in its output order"
    else:  # the outputs came through teacher.labels: name the teacher's own outputs, whose names are wrong
        column = class_map.columns
        shown = [f"its output {column[r]} ({class_map.teacher_labels[column[r]]!r}) is {names[c]!r}" for r, c in moved]
        fix = "those names right in teacher.labels"
    shown = ", ".join(shown[:6]) + (f" and {len(moved) - 6} more" if len(moved) > 6 else "")
    raise CheckpointError(
        f"{teacher.checkpoint}: the teacher's classes are in another order than the data's: it scores {as_is:.0f}% "
        f"as is and {mapped:.0f}% when {shown}; set {fix}"
    )


def _check_preprocessing(
    teacher: Teacher, sample: Split, data: DataBundle, task: Task, configured: float, guessing: float
) -> None:
    """The teacher's score with the configured preprocessing against the common conventions."""
    if configured + PREPROCESSING_POINTS >= 100.0:
        return  # nothing could beat it by the margin
    view = teacher.view
    assert isinstance(view, TeacherView)
    best: tuple[float, Convention] | None = None
    for convention in conventions(data.image_shape[2]):
        if (convention.mean, convention.std, convention.bgr) == (view.mean, view.std, view.bgr):
            continue
        other = dataclasses.replace(
            teacher, view=TeacherView(convention.mean, convention.std, view.size, convention.bgr)
        )
        score = task.metrics(np.asarray(other.split_logits(sample, data.pixel_max)), sample.y)[task.primary_metric]
        if best is None or score > best[0]:
            best = (score, convention)
    if best is None:
        return
    score, convention = best
    if score - configured > PREPROCESSING_POINTS and clearly_above_chance(score, len(sample), guessing):
        raise CheckpointError(
            f"{teacher.checkpoint}: the teacher scores {configured:.0f}% as configured and {score:.0f}% with "
            f"{convention.name}: set {convention.setting()}"
        )
