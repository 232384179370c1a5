"""The typed contracts: they refuse what the house must never pass between rooms."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edgedistill.contracts import ArtifactReport, RunnerResult, StudentArch, TrainedStudent, VerifiedArtifact

ARCH = {"name": "dscnn", "num_classes": 10, "in_channels": 1, "input_size": 28, "input_hw": [28, 28], "width": 1.0}


def test_a_student_arch_round_trips_through_json_and_knows_its_input_shape():
    arch = StudentArch.model_validate(ARCH)
    assert arch.shape == (1, 28, 28) and arch.options == {}
    assert StudentArch.model_validate_json(arch.model_dump_json()) == arch
    with pytest.raises(ValidationError, match="input_hw"):
        StudentArch.model_validate({**ARCH, "input_hw": [28]})


def test_a_misspelt_or_missing_field_fails_where_the_value_is_made():
    with pytest.raises(ValidationError, match="num_clases"):
        StudentArch.model_validate({**ARCH, "num_clases": 10})
    with pytest.raises(ValidationError, match="val_accuracy"):
        TrainedStudent.model_validate(
            {
                "arch": ARCH,
                "teacher": "t",
                "params": 1,
                "macs": 1,
                "samples": {"labelled": 1, "transfer": 0},
                "teacher_outputs": "precomputed once",
                "best_epoch": 1,
                "history": [],
            }
        )


def test_task_metrics_ride_along_as_numbers_and_nothing_else():
    verified = VerifiedArtifact(accuracy=98.5, agreement_with_student=99.0, int8_gate=None)
    assert (
        verified.metrics() == {"accuracy": 98.5, "agreement_with_student": 99.0} and verified.metric("accuracy") == 98.5
    )
    with pytest.raises(ValidationError):
        VerifiedArtifact(accuracy="high")
    with pytest.raises(ValidationError):
        ArtifactReport(file="m.tflite", size_bytes=1, gzip_bytes=1, sha256="0" * 64, note=["a list"])


def test_the_runner_json_keeps_its_schema_key():
    line = {
        "schema": 1,
        "tool": "edgedistill-runner",
        "model": "m.tflite",
        "model_bytes": 10,
        "runtime": "ai_edge_litert",
        "runtime_version": "2.0",
        "threads": 1,
        "xnnpack": True,
        "init_ms": 1.0,
        "first_inference_ms": 1.0,
        "warmup_runs": 1,
        "warmup_mean_ms": 1.0,
        "runs": 2,
        "rounds": 1,
        "round_medians_ms": [1.0],
        "latency_ms": {"min": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "mean": 1.0, "std": 0.0},
        "samples_ms": [1.0, 1.0],
        "peak_rss_kb": 1000,
        "machine": "x86_64",
        "cpu": "AMD EPYC",
        "python": "3.11",
    }
    result = RunnerResult.model_validate(line)
    assert result.schema_ == 1 and result.model_dump(mode="json")["schema"] == 1
    with pytest.raises(ValidationError, match="latency"):
        RunnerResult.model_validate({**line, "latency": 1.0})  # a runner that drifted from the contract
