"""A task is one class in the registry: the config, the checks, the console and report.html follow it."""

from __future__ import annotations

import copy
import io

import numpy as np
from rich.console import Console

from edgedistill.contracts import Manifest, Report, TensorSpec
from edgedistill.pipeline.config import config_from_dict
from edgedistill.pipeline.report.assemble import checks
from edgedistill.pipeline.report.console import print_summary
from edgedistill.pipeline.report.html import render_html
from edgedistill.pipeline.tasks import TASKS, Column, Task, get_task
from tests.conftest import tiny_config

RENAMED = {"accuracy": "score", "agreement_with_student": "match"}


class Toy(Task):
    """A task with metrics of its own names, as detection will have (map, ...)."""

    name = "toy"
    primary_metric = "score"
    columns = (Column("score", "score", ".1f"), Column("match %", "match", ".1f"))
    reference_metrics = {"match": 100.0}

    def metrics(self, outputs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return {"score": float(outputs.sum())}

    def agreement(self, outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
        return {"match": 100.0 * float(np.isclose(outputs, reference).mean())}

    def teacher_output_problem(self, output, num_classes: int) -> str | None:
        return None

    def teacher_class_scores(self, output) -> np.ndarray:
        return np.asarray(output)

    def teacher_head(self, kind, class_map):
        return lambda output: output

    def class_predictions(self, outputs: np.ndarray) -> np.ndarray | None:
        return None

    def output_meaning(self, output: TensorSpec) -> str:
        return "toy scores"


def _as_toy(report: dict) -> dict:
    """A classification report rewritten as a toy task's: the same numbers under the toy's metric names."""
    toy = copy.deepcopy(report)
    toy["task"] = "toy"
    for entry in [toy["teacher"], toy["student"], *toy["artifacts"].values()]:
        for old, new in RENAMED.items():
            if old in entry:
                entry[new] = entry.pop(old)
    return toy


def test_a_registered_task_is_taken_by_the_config_and_found_by_name(monkeypatch, digits_npz, digits_teacher):
    monkeypatch.setitem(TASKS, "toy", Toy)
    assert config_from_dict({**tiny_config(digits_npz, digits_teacher), "task": "toy"}).task == "toy"
    assert isinstance(get_task("toy"), Toy)


def test_the_checks_console_and_page_show_the_tasks_own_metrics(monkeypatch, built_project):
    monkeypatch.setitem(TASKS, "toy", Toy)
    report = Report.model_validate(_as_toy(built_project.report))
    int8 = report.artifacts["tflite_int8"]
    checked = checks(Toy(), report.teacher.metrics(), report.student.metrics(), report.artifacts, 1000)
    assert checked.student_retention_of_teacher == round(
        report.student.metric("score") / report.teacher.metric("score"), 4
    )
    assert checked.int8_accuracy_drop_vs_student_points == round(
        report.student.metric("score") - int8.metric("score"), 3
    )

    console = Console(file=io.StringIO(), width=300)
    print_summary(report, console)
    lines = console.file.getvalue().splitlines()
    assert "score" in lines[2] and "match %" in lines[2] and "test acc %" not in lines[2]  # the header row
    student_row = next(line for line in lines if "student (PyTorch)" in line)
    assert f"{report.student.metric('score'):.1f}" in student_row and "100.0" in student_row

    page = render_html(report, Manifest.model_validate(built_project.manifest))
    assert "<th>score</th>" in page and "<th>match %</th>" in page and "test score vs file size" in page
    assert "test acc %" not in page and f"{int8.metric('match'):.1f}" in page
