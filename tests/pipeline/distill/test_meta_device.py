"""Training steps on the `meta` device: what a CUDA or Apple GPU run meets first, proven on a CPU-only machine.

A meta tensor meeting a CPU tensor raises ("Tensor on device cpu is not on the expected device meta"), exactly
where a CUDA or MPS tensor would: a constant made on the CPU (a normaliser's mean/std, a loss weight, an index),
a module not moved, a teacher output not moved. Each test runs one whole training step from a batch as the
loader hands it over (raw uint8 NHWC on the CPU) through augmentation, the forward pass, the loss, the backward
pass and the optimizer and schedule steps, with the runtime's device set to meta.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgedistill.pipeline.config import DistillationConfig
from edgedistill.pipeline.data.loader import BatchStream, to_unit
from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.kd_objective import KDObjective
from edgedistill.pipeline.distill.mutual import Cohort
from edgedistill.pipeline.distill.runtime import TrainRuntime
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.training import TrainStep
from edgedistill.pipeline.distill.views import ViewPolicy
from edgedistill.pipeline.stages.baseline import label_batch_loss
from edgedistill.pipeline.student import cohort_batch_loss, kd_batch_loss
from edgedistill.students import build_student
from tests.conftest import split_in_store

META = TrainRuntime(torch.device("meta"))
CLASSES, SIDE = 4, 12


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    """16 RGB 12x12 uint8 images in a real store, the first 4 without a label (a transfer set's rows)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, SIDE, SIDE, 3), dtype=np.uint8)
    y = rng.integers(0, CLASSES, 16)
    y[:4] = -1
    return split_in_store(x, y, tmp_path_factory.mktemp("meta") / "train")


def view():
    return make_normalizer([0.5, 0.4, 0.3], [0.2, 0.25, 0.3], (SIDE, SIDE))


def student(name: str = "resnet8") -> torch.nn.Module:
    torch.manual_seed(0)
    options = {"base": 8} if name == "resnet8" else {}
    return build_student(name, num_classes=CLASSES, in_channels=3, input_size=SIDE, options=options)


def live_teacher() -> Teacher:
    torch.manual_seed(1)
    module = build_student("resnet8", num_classes=CLASSES, in_channels=3, input_size=SIDE, options={"base": 16})
    return Teacher("resnet8 w16", None, "t", module.eval(), make_normalizer([0.45] * 3, [0.25] * 3), (SIDE, SIDE))  # type: ignore[arg-type]


def logits_teacher() -> Teacher:
    """A teacher behind an API: its logits for every source row, read on the CPU from a table."""
    table = np.random.default_rng(2).normal(size=(16, CLASSES)).astype(np.float32)
    return Teacher("table", None, "t", None, lambda x: x, (SIDE, SIDE), table=table)  # type: ignore[arg-type]


SHIFT_FLIP = ViewPolicy(shift=True, hflip=True)
# every view of consistent teaching; cutmix alone, so that each step mixes the same way whatever the draws
STRONG = {
    "crop-colour-mixup": ViewPolicy(shift=False, hflip=True, crop=0.35, color=0.4, mixup=0.4),
    "crop-colour-cutmix": ViewPolicy(shift=False, hflip=True, crop=0.35, color=0.4, cutmix=1.0),
}


def one_step(
    model: torch.nn.Module,
    loss_fn,
    train,
    *,
    extra: torch.nn.Module | None = None,
    normalize=None,
    views: ViewPolicy = SHIFT_FLIP,
) -> TrainStep:
    """One augmented training step on meta from the first 8 rows, read through the loader as fit reads them."""
    META.prepare(model)
    if extra is not None:
        META.prepare(extra)
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    step = TrainStep(
        model,
        params,
        loss_fn,
        normalize or view(),
        runtime=META,
        lr=1e-3,
        weight_decay=1e-4,
        total_steps=4,
        generator=torch.Generator().manual_seed(0),
        pixel_max=255.0,
        views=views,
        extra=extra,
    )
    (idx, raw), *_ = list(BatchStream(train, 0, META.device).epoch([np.arange(8)]))
    loss = step(idx, raw, len(idx))
    assert loss.device.type == "meta" and loss.shape == ()
    assert step.sched.last_epoch == 1  # the optimizer stepped, then the schedule
    assert all(p.device.type == "meta" for p in params)
    stepped = [p for p in params if p.grad is not None]
    assert stepped and all(step.opt.state[p]["exp_avg"].device.type == "meta" for p in stepped)
    return step


def test_training_on_labels_alone_runs_every_step_on_the_device(train):
    one_step(student(), label_batch_loss(train), train)


def test_fine_tuning_with_pruning_masks_runs_every_step_on_the_device(train):
    """Unstructured pruning's fine-tune: weight = weight_orig * mask, both moved with the student."""
    from edgedistill.pipeline.pruning import mask_smallest_weights

    model = student("dscnn")
    mask_smallest_weights(model, 0.5)
    one_step(model, label_batch_loss(train), train)


@pytest.mark.parametrize(
    "recipe",
    [
        DistillationConfig(),  # soft targets (Hinton), hard labels where there are any
        DistillationConfig(loss="pseudo_labels"),
        DistillationConfig(hints=[{"teacher": "layer2", "student": "layer2", "weight": 1.0}]),
        DistillationConfig(relation={"distance": 25.0, "angle": 50.0}),
    ],
    ids=["soft-targets", "pseudo-labels", "hints", "relation"],
)
def test_distillation_with_each_loss_family_runs_every_step_on_the_device(train, recipe):
    model = student()
    teacher = live_teacher()
    example = to_unit(torch.from_numpy(train.images.read(train.rows[:4])), 255.0, META.device)
    objective = KDObjective(recipe, teacher, META.prepare(model), view(), example, META)
    assert next(teacher.module.parameters()).device.type == "meta"  # the live teacher runs on the device
    one_step(model, kd_batch_loss(objective, train), train, extra=objective)
    if recipe.hints:
        assert next(objective.adapters.parameters()).device.type == "meta"


def test_distillation_from_precomputed_logits_moves_them_to_the_device(train):
    model = student("dscnn")
    objective = KDObjective(DistillationConfig(), logits_teacher(), META.prepare(model), view(), None, META)  # type: ignore[arg-type]
    one_step(model, kd_batch_loss(objective, train), train, extra=objective)


def test_quantization_aware_training_runs_every_step_on_the_device(train):
    from edgedistill.export.qat import QATStudent

    qat = QATStudent(student("dscnn"), (3, SIDE, SIDE))
    objective = KDObjective(DistillationConfig(), live_teacher(), META.prepare(qat), view(), None, META)  # type: ignore[arg-type]
    one_step(qat, kd_batch_loss(objective, train), train, extra=objective)


@pytest.mark.parametrize("with_teacher", [False, True], ids=["peers", "peers-and-teacher"])
def test_a_mutual_learning_cohort_runs_every_step_on_the_device(train, with_teacher):
    """Two members of other architectures, one at its own input size, each on its own view of the batch."""
    members = [student("dscnn"), student("resnet8")]
    views = [view(), make_normalizer([0.4, 0.4, 0.4], [0.3, 0.3, 0.3], (8, 8))]
    cohort = Cohort(members, views)
    recipe = DistillationConfig(mode="mutual", mutual={"teacher": with_teacher})
    objective = (
        KDObjective(recipe, live_teacher(), META.prepare(members[0]), views[0], None, META)  # type: ignore[arg-type]
        if with_teacher
        else None
    )
    one_step(cohort, cohort_batch_loss(train, recipe, objective), train, normalize=cohort.unit_view())
    assert all(p.grad is not None for p in cohort.parameters() if p.requires_grad)


@pytest.mark.parametrize("views", list(STRONG.values()), ids=list(STRONG))
@pytest.mark.parametrize("teacher", ["labels-only", "live", "logits"])
def test_consistent_views_with_mixed_images_and_labels_run_every_step_on_the_device(train, views, teacher):
    """Crops, colour jitter and mixup or cutmix on the device; the mixing partners index labels on the device and
    logits read from a file are mixed there."""
    model = student("dscnn")
    if teacher == "labels-only":
        one_step(model, label_batch_loss(train), train, views=views)
        return
    source = live_teacher() if teacher == "live" else logits_teacher()
    objective = KDObjective(DistillationConfig(), source, META.prepare(model), view(), None, META)  # type: ignore[arg-type]
    one_step(model, kd_batch_loss(objective, train), train, extra=objective, views=views)
