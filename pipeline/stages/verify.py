"""verify: accuracy of teacher, student and every artifact on the test split; agreement; the int8 gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedistill.export.inspect_tflite import float_ops
from edgedistill.export.native_logs import native_logs_to
from edgedistill.export.runtimes import load_runtime
from edgedistill.pipeline.cache import StageOutput
from edgedistill.pipeline.data import DataBundle, preprocess
from edgedistill.pipeline.errors import GateError
from edgedistill.pipeline.fsutil import write_json
from edgedistill.pipeline.progress import Progress
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.stages.distill import load_student
from edgedistill.pipeline.teacher import Teacher
from edgedistill.pipeline.training import accuracy, predict_logits, to_unit_tensor

RESULT_FILE = "verify.json"


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.asarray(a).argmax(1) == np.asarray(b).argmax(1)).mean() * 100.0)


def int8_gate(path: Path) -> None:
    """Fail when an int8 model computes anything in float other than its boundary (de)quantization."""
    bad = float_ops(path)
    if bad:
        listed = "; ".join(str(op) for op in bad[:6]) + (f"; ... {len(bad) - 6} more" if len(bad) > 6 else "")
        raise GateError(f"{path.name}: int8 gate failed, {len(bad)} op(s) compute in float: {listed}")


@register_stage
@dataclass
class VerifyStage(Stage):
    name = "verify"
    version = 2

    data: DataBundle
    teacher: Teacher
    student: StageOutput  # from distill
    exported: StageOutput  # from export
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "data": self.data.fingerprint,
            "teacher": self.teacher.fingerprint,
            "student": self.student.fingerprint(),
            "exported": self.exported.fingerprint(),
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], dict[str, Any]]:
        data, test = self.data, self.data.test
        arch = self.student.meta["arch"]
        size = tuple(arch["input_hw"])
        with self.progress.task("verifying on the test split"), native_logs_to(workdir / "verify.log"):
            teacher_logits = self.teacher.logits(test.rows, to_unit_tensor(test.x, data.pixel_max))
            student_in = preprocess(test.x, data, size)  # type: ignore[arg-type]
            student_logits = predict_logits(load_student(self.student), torch.from_numpy(student_in)).numpy()
            result: dict[str, Any] = {
                "test_samples": len(test),
                "teacher": {"accuracy": round(accuracy(teacher_logits, test.y), 3)},
                "student": {"accuracy": round(accuracy(student_logits, test.y), 3)},
                "artifacts": {},
            }
            for fmt in self.exported.files:
                path = self.exported.path(fmt)
                logits = load_runtime(path).predict(student_in)
                entry = {
                    "accuracy": round(accuracy(logits, test.y), 3),
                    "agreement_with_student": round(agreement(logits, student_logits), 3),
                    "max_abs_logit_diff": round(float(np.abs(logits - student_logits).max()), 6),
                }
                if fmt == "tflite_int8":
                    int8_gate(path)
                    entry["int8_gate"] = "passed: every op between the int8 input and output computes in integer"
                result["artifacts"][fmt] = entry
        write_json(workdir / RESULT_FILE, result)
        return {"verify": RESULT_FILE}, result
