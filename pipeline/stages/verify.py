"""verify: accuracy of teacher, student and every artifact on the test split; agreement; the int8 gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedistill.contracts import (
    ExportResult,
    Int8Drop,
    LayerError,
    LayerErrors,
    TrainedStudent,
    VerifiedArtifact,
    VerifyResult,
)
from edgedistill.errors import GateError
from edgedistill.export.inspect_tflite import float_ops
from edgedistill.export.native_logs import native_logs_to
from edgedistill.export.runtimes import load_runtime
from edgedistill.fsutil import write_json
from edgedistill.pipeline.config import QuantizationConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.data.calibration import calibration_count, calibration_samples
from edgedistill.pipeline.data.transforms import preprocessed_batches
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.distill.training import SplitOutputs, predict_logits
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.store.cache import SCRATCH, StageOutput
from edgedistill.pipeline.student import load_student
from edgedistill.pipeline.tasks import Task
from edgedistill.progress import Progress

RESULT_FILE = "verify.json"


def int8_gate(path: Path) -> None:
    """Fail when an int8 model computes anything in float other than its boundary (de)quantization."""
    bad = float_ops(path)
    if bad:
        listed = "; ".join(str(op) for op in bad[:6]) + (f"; ... {len(bad) - 6} more" if len(bad) > 6 else "")
        raise GateError(f"{path.name}: int8 gate failed, {len(bad)} op(s) compute in float: {listed}")


@register_stage
@dataclass
class VerifyStage(Stage[VerifyResult]):
    name = "verify"
    version = 4
    output_type = VerifyResult
    tools = ("torch", "litert-torch", "ai-edge-litert", "onnxruntime")

    data: DataBundle
    teacher: Teacher
    student: StageOutput[TrainedStudent]  # from distill or prune
    exported: StageOutput[ExportResult]  # from export
    quantization: QuantizationConfig
    task: Task
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        return {
            "task": self.task.name,
            "data": self.data.fingerprint,
            "teacher": self.teacher.fingerprint,
            "student": self.student.fingerprint(),
            "exported": self.exported.fingerprint(),
            "quantization": self.quantization.ptq_key(),
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], VerifyResult]:
        data, test, task = self.data, self.data.test, self.task
        size = self.student.result.arch.input_hw
        with self.progress.task("verifying on the test split"), native_logs_to(workdir / "verify.log"):
            teacher_logits = self.teacher.split_logits(test, data.pixel_max)
            student = load_student(self.student)
            runtimes = {fmt: load_runtime(self.exported.path(fmt)) for fmt in self.exported.files}
            outputs = SplitOutputs(len(test))
            for x in preprocessed_batches(test, data, size):
                outputs.add("student", predict_logits(student, torch.from_numpy(x)).numpy())
                for fmt, runtime in runtimes.items():
                    outputs.add(fmt, runtime.predict(x))
                outputs.next_batch(len(x))
            student_logits = outputs["student"]
            student_metrics = task.metrics(student_logits, test.y)
            artifacts: dict[str, VerifiedArtifact] = {}
            for fmt in self.exported.files:
                path = self.exported.path(fmt)
                logits = outputs[fmt]
                gate = None
                if fmt == "tflite_int8":
                    int8_gate(path)
                    gate = "passed: every op between the int8 input and output computes in integer"
                artifacts[fmt] = VerifiedArtifact(
                    **task.metrics(logits, test.y), **task.agreement(logits, student_logits), int8_gate=gate
                )
            drop, diagnosis = None, None
            if "tflite_int8" in artifacts:
                drop = self._int8_drop(artifacts, student_metrics)
                diagnosis = self._int8_layer_errors(drop, workdir)
            result = VerifyResult(
                test_samples=len(test),
                teacher=task.metrics(np.asarray(teacher_logits), test.y),
                student=student_metrics,
                artifacts=artifacts,
                int8_drop=drop,
                int8_layer_errors=diagnosis,
            )
        write_json(workdir / RESULT_FILE, result.model_dump(mode="json"))
        return {"verify": RESULT_FILE}, result

    def _int8_drop(self, artifacts: dict[str, VerifiedArtifact], student: dict[str, float]) -> Int8Drop:
        """How far tflite_int8 falls below fp32 on the test split: against the fp32 .tflite when it is shipped,
        else against the PyTorch student (which the fp32 .tflite equals)."""
        fp32 = artifacts.get("tflite_fp32")
        reference = fp32.metrics() if fp32 else student
        points = self.task.points_below(reference, artifacts["tflite_int8"].metrics())
        tolerance = self.quantization.tolerance_points
        return Int8Drop(
            points=points,
            against="tflite_fp32" if fp32 else "the fp32 student (PyTorch)",
            tolerance_points=tolerance,
            past_tolerance=points > tolerance,
        )

    def _int8_layer_errors(self, drop: Int8Drop, workdir: Path) -> LayerErrors | None:
        """Per-layer int8 error against fp32 on calibration samples, when int8 drops past the tolerance (or always).
        Without a shipped tflite_fp32 the fp32 reference is converted here, for this table only."""
        from edgedistill.export.layer_errors import layer_errors

        q = self.quantization
        if q.layer_errors == "never" or (q.layer_errors == "on_drop" and not drop.past_tolerance):
            return None
        shipped_fp32 = "tflite_fp32" in self.exported.files
        if shipped_fp32:
            reference = self.exported.path("tflite_fp32")
        else:
            from edgedistill.export.tflite_export import export_tflite_fp32

            reference = workdir / SCRATCH / "reference_fp32.tflite"
            reference.parent.mkdir(parents=True, exist_ok=True)
            with self.progress.task("converting an fp32 reference for the per-layer int8 errors"):
                export_tflite_fp32(
                    load_student(self.student),
                    self.student.result.arch.shape,
                    reference,
                    workdir / "convert.log",
                )
        with self.progress.task("locating the int8 error layer by layer"):
            samples = (
                x.numpy() for x in calibration_samples(self.data, self.student.result.arch, q.calibration_samples)
            )
            errors = layer_errors(reference, self.exported.path("tflite_int8"), samples)
        return LayerErrors(
            drop_vs_fp32_points=drop.points,
            tolerance_points=drop.tolerance_points,
            reference="tflite_fp32" if shipped_fp32 else "fp32 .tflite converted for this table",
            samples=calibration_count(self.data, q.calibration_samples),
            metric="SQNR in dB (higher is better) and cosine of each layer's int8 output against fp32, on calibration samples",
            worst_first=[LayerError.model_validate(e.to_dict()) for e in errors],
        )
