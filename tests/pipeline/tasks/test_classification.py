from __future__ import annotations

import numpy as np
import pytest

from edgedistill.contracts import TensorSpec
from edgedistill.errors import ConfigError
from edgedistill.pipeline.tasks import TASKS, get_task

LOGITS = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 2.0], [5.0, 0.0, 0.0]], dtype=np.float32)


def test_classification_is_registered_and_an_unknown_task_is_one_line():
    assert "classification" in TASKS and get_task("classification").primary_metric == "accuracy"
    with pytest.raises(ConfigError, match="unknown task 'segmentation'; known: classification"):
        get_task("segmentation")


def test_metrics_agreement_and_the_drop_on_the_primary_metric():
    task = get_task("classification")
    labels = np.array([0, 1, 2, 1])
    assert task.metrics(LOGITS, labels) == {"accuracy": 75.0}
    flipped = LOGITS.copy()
    flipped[3] = [0.0, 0.0, 9.0]  # one of four predictions changes, by up to 9 in a logit
    agreement = task.agreement(flipped, LOGITS)
    assert agreement == {"agreement_with_student": 75.0, "max_abs_logit_diff": 9.0}
    assert task.points_below({"accuracy": 75.0}, task.metrics(flipped, labels)) == 0.0
    assert task.points_below({"accuracy": 75.0}, {"accuracy": 50.0}) == 25.0


def test_the_teacher_output_check_names_the_shape_it_expected():
    task = get_task("classification")
    assert task.teacher_output_problem(np.zeros((2, 10)), 10) is None
    assert (
        task.teacher_output_problem(np.zeros((2, 1000)), 10)
        == "teacher outputs (2, 1000) for 2 inputs; expected (2, 10) logits"
    )
    assert task.teacher_output_problem((np.zeros((2, 10)),), 10) == (
        "teacher outputs a tuple for 2 inputs; expected (2, 10) logits"
    )


def test_the_manifest_says_what_the_output_means():
    out = TensorSpec(name="logits", shape=[1, 10], dtype="int8", scale=0.1, zero_point=0)
    assert "argmax" in get_task("classification").output_meaning(out)
