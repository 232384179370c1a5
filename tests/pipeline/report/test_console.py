from __future__ import annotations

import copy
import io

from rich.console import Console

from edgedistill.contracts import Report
from edgedistill.pipeline.report.console import print_summary


def _summary(report: dict) -> list[str]:
    console = Console(file=io.StringIO(), width=400)
    print_summary(Report.model_validate(report), console)
    return console.file.getvalue().splitlines()


def test_an_int8_drop_past_tolerance_heads_the_summary_and_the_recommendation_follows(built_project):
    report = copy.deepcopy(built_project.report)
    report["int8_drop"] = {"points": 3.1, "against": "tflite_fp32", "tolerance_points": 1.0, "past_tolerance": True}
    report["recommended"] = {"model": "tflite_fp16", "because": "tflite_int8 is 3.10 points below"}
    lines = _summary(report)
    table_end = max(i for i, line in enumerate(lines) if line.startswith("└"))
    assert lines[table_end + 1].startswith("int8 falls short: tflite_int8 is 3.10 points below tflite_fp32")
    assert "recommended: tflite_fp16 (tflite_int8 is 3.10 points below)" in lines


def test_within_tolerance_there_is_no_headline(built_project):
    assert built_project.report["int8_drop"]["past_tolerance"] is False
    assert not any("falls short" in line for line in _summary(built_project.report))
    assert any(
        line.startswith("recommended: tflite_int8 (full-integer int8") for line in _summary(built_project.report)
    )


def test_a_mutual_cohorts_peers_are_rows_of_the_models_table_on_the_console_and_the_page(built_project):
    from edgedistill.contracts import Manifest
    from edgedistill.pipeline.report.html import render_html

    report = copy.deepcopy(built_project.report)
    arch = report["student"]["arch"]
    peer = {**arch, "name": "resnet8", "options": {"base": 4}}
    report["cohort"] = [
        {"arch": arch, "params": 100, "macs": 1000, "val_accuracy": 91.0, "test_accuracy": 90.5, "shipped": True},
        {"arch": peer, "params": 222, "macs": 3333, "val_accuracy": 88.0, "test_accuracy": 87.25, "shipped": False},
    ]
    label = "cohort peer, resnet8 w1 at 8x8, base=4"
    row = next(line for line in _summary(report) if label in line)
    assert "222" in row and "3,333" in row and "87.25" in row
    page = render_html(Report.model_validate(report), Manifest.model_validate(built_project.manifest))
    assert f"<td>{label}</td>" in page and "87.25" in page
    assert sum(line.count(label) for line in _summary(built_project.report)) == 0  # no cohort, no peer rows
