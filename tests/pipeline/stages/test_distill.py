from __future__ import annotations

import pytest
import torch

from edgedistill.pipeline.config import DataConfig, DistillationConfig, StudentConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.stages import STAGES, run_stage
from edgedistill.pipeline.stages.baseline import BaselineStage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.store.cache import StageCache
from edgedistill.pipeline.student import build_from_arch, load_student
from edgedistill.progress import quiet
from tests.conftest import TEACHER_FACTORY, TEACHER_KWARGS, run_cli, tiny_config, write_config


def test_stages_are_registered_by_name():
    assert {"distill", "export", "verify", "benchmark"} <= set(STAGES)
    assert STAGES["distill"] is DistillStage


def test_student_at_its_own_input_size_learns_from_the_teacher(tmp_path, digits_npz, digits_teacher):
    data = load_data(DataConfig(npz=digits_npz))
    teacher = load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher), data, quiet()
    )
    stage = DistillStage(
        data,
        teacher,
        StudentConfig(name="dscnn", input_size=12, options={"channels": 16, "blocks": 2}),
        DistillationConfig(epochs=8, augment=False, temperature=2.0, alpha=0.7),
        quiet(),
    )
    out = run_stage(stage, StageCache(tmp_path))
    assert out.result.arch.input_hw == (12, 12) and out.result.params > 0 and out.result.macs > 0
    assert out.result.val_accuracy > 60 and len(out.result.history) == 8
    assert out.result.val_accuracy == max(h.val_accuracy for h in out.result.history)
    student = load_student(out)
    assert student(torch.zeros(1, 1, 12, 12)).shape == (1, 10)
    again = run_stage(stage, StageCache(tmp_path))
    assert again.cached and again.key == out.key


def _teacher(data, digits_teacher):
    return load_teacher(
        TeacherConfig(factory=TEACHER_FACTORY, kwargs=TEACHER_KWARGS, checkpoint=digits_teacher), data, quiet()
    )


SMALL = StudentConfig(name="dscnn", options={"channels": 16, "blocks": 2})


@pytest.mark.parametrize("augment", [False, True])
def test_hints_and_relations_train_with_the_teacher_live_or_precomputed(augment, tmp_path, digits_npz, digits_teacher):
    data = load_data(DataConfig(npz=digits_npz))
    recipe = DistillationConfig(
        epochs=15,
        augment=augment,
        hints=[{"teacher": "layer2", "student": "features.2"}],
        relation={"distance": 5.0, "angle": 10.0},
    )
    out = run_stage(DistillStage(data, _teacher(data, digits_teacher), SMALL, recipe, quiet()), StageCache(tmp_path))
    # measured over seeds 0-3 at 15 epochs: 96-97% plain, 79-85% with 1-pixel shifts of the 8x8 digits
    # (6 epochs gave 17-43% with shifts: too close to any threshold to test)
    assert out.result.val_accuracy > (60 if augment else 85)
    assert out.result.teacher_outputs == ("live on each batch" if augment else "precomputed once")
    # the adapters trained alongside are not part of the shipped student
    assert set(torch.load(out.path("student"), weights_only=True)) == set(build_from_arch(out.result.arch).state_dict())


def test_with_few_labels_the_teacher_lifts_the_student_far_above_labels_alone(tmp_path, digits_npz, digits_teacher):
    data = load_data(DataConfig(npz=digits_npz, labeled_fraction=0.05))
    assert len(data.train) < 80 and len(data.transfer) > 1000
    recipe = DistillationConfig(epochs=15, augment=False)  # measured over seeds 0-2: KD 96-97%, labels alone 71-79%
    cache = StageCache(tmp_path)
    baseline = run_stage(BaselineStage(data, SMALL, recipe, quiet()), cache)
    distilled = run_stage(DistillStage(data, _teacher(data, digits_teacher), SMALL, recipe, quiet()), cache)
    assert distilled.result.samples.model_dump() == {"labelled": len(data.train), "transfer": len(data.transfer)}
    assert baseline.result.labelled_samples == len(data.train)
    assert distilled.result.val_accuracy > baseline.result.val_accuracy + 10, (
        distilled.result.val_accuracy,
        baseline.result.val_accuracy,
    )


def test_a_mutual_cohort_of_two_architectures_ships_its_best_member(tmp_path, digits_npz, digits_teacher):
    data = load_data(DataConfig(npz=digits_npz))
    peer = StudentConfig(name="resnet8", input_size=12, options={"base": 4})
    recipe = DistillationConfig(epochs=6, augment=False, mode="mutual", mutual={"peers": [peer]})
    out = run_stage(DistillStage(data, _teacher(data, digits_teacher), SMALL, recipe, quiet()), StageCache(tmp_path))
    cohort = out.result.cohort
    assert [m.arch.name for m in cohort] == ["dscnn", "resnet8"] and cohort[1].arch.input_hw == (12, 12)
    assert all(m.val_accuracy > 60 and m.test_accuracy > 60 for m in cohort)  # both learned from labels and peer
    shipped = [m for m in cohort if m.shipped]
    assert len(shipped) == 1 and shipped[0].val_accuracy == max(m.val_accuracy for m in cohort)
    assert out.result.arch == shipped[0].arch and out.result.val_accuracy == shipped[0].val_accuracy
    assert out.result.teacher_outputs.startswith("not used")
    student = load_student(out)  # the shipped member's weights alone, for its own architecture
    assert student(torch.zeros(1, 1, *out.result.arch.input_hw)).shape == (1, 10)


def test_a_budget_search_refuses_mutual_peers_it_would_not_cost_in_one_line(tmp_path, digits_npz, digits_teacher):
    peers = [{"name": "resnet8", "options": {"base": 4}}]
    write_config(
        tmp_path,
        tiny_config(
            digits_npz, digits_teacher, **{"distillation.mode": "mutual", "distillation.mutual": {"peers": peers}}
        ),
    )
    proc = run_cli("build", "--target", "rpi4", "--budget", "size=1MB", cwd=tmp_path)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "--budget with distillation.mutual.peers" in proc.stderr
    assert not (tmp_path / ".edgedistill-cache").exists()
