"""qat: distil into the fake-quantized student (quantization-aware training on soft targets: the fp32 student's
own by default, or the teacher's), then choose which int8 model ships: post-training (from export) or
quantization-aware, by validation accuracy.

`quantization.mode`: ptq ships export's model; qat always trains and ships the QAT model; auto trains only
when PTQ falls more than `tolerance_points` below the fp32 student on validation, and ships the better one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edgedistill.contracts import (
    ExportResult,
    Int8Choice,
    QATResult,
    QATSummary,
    QATVerdict,
    TrainedStudent,
    updated,
)
from edgedistill.fsutil import write_torch
from edgedistill.pipeline.config import DistillationConfig, QuantizationConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.stages.export import FILENAMES, describe_artifact, val_accuracy
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.pipeline.student import distill_into, load_student, student_view, teacher_from_distilled
from edgedistill.progress import Progress

QAT_MODEL = "model_int8_qat.tflite"
QAT_STATE = "student_qat.pt"  # the fake-quantized student's state: with student.pt it re-exports the same model


def ptq_verdict(exported: StageOutput[ExportResult], q: QuantizationConfig) -> QATVerdict | None:
    """Whether QAT should run after export's PTQ model, and why (None: no tflite_int8 is made)."""
    int8 = exported.result.artifacts.get("tflite_int8")
    if int8 is None:
        return None
    if q.mode == "ptq":
        return QATVerdict(mode="ptq", run_qat=False, why="quantization.mode is ptq")
    assert int8.val is not None  # export scores every PTQ model on validation
    val = int8.val
    drop = round(val.fp32_accuracy - val.accuracy, 3)
    scores = {"mode": q.mode, "ptq_val_accuracy": val.accuracy, "fp32_val_accuracy": val.fp32_accuracy}
    if q.mode == "qat":
        return QATVerdict(**scores, run_qat=True, why="quantization.mode is qat")
    where = f"{abs(drop):.2f} points {'below' if drop >= 0 else 'above'} fp32 on validation"
    if drop > q.tolerance_points:
        return QATVerdict(**scores, run_qat=True, why=f"PTQ is {where} (tolerance {q.tolerance_points:g})")
    return QATVerdict(**scores, run_qat=False, why=f"PTQ is {where}, within the tolerance of {q.tolerance_points:g}")


def ptq_shipped(verdict: QATVerdict) -> Int8Choice:
    """The choice when QAT does not run: export's PTQ model ships, for the verdict's reason."""
    return Int8Choice(**verdict.model_dump(exclude={"run_qat"}), shipped="ptq", shipped_because=verdict.why)


@register_stage
@dataclass
class QATStage(Stage[QATResult]):
    name = "qat"
    version = 2
    output_type = QATResult
    tools = ("torch", "torchao", "litert-torch", "ai-edge-litert", "flatbuffers", "onnxruntime")

    student: StageOutput[TrainedStudent]  # from distill or prune
    data: DataBundle
    teacher: Teacher
    recipe: DistillationConfig
    quantization: QuantizationConfig
    progress: Progress

    def qat_recipe(self) -> DistillationConfig:
        """The distillation recipe (teacher, views, transfer set, loss) at QAT's epochs and learning rate; hints and
        relations name layers of the eager student, which the fake-quantized graph no longer has. In fp32
        whatever distillation.precision says: fake quantization simulates int8 from fp32 values, and its ops take
        no bf16/fp16 input from autocast."""
        q = self.quantization
        return self.recipe.link().model_copy(
            update={
                "epochs": q.qat_epochs,
                "lr": q.qat_lr or self.recipe.lr / 10,
                "hints": [],
                "relation": None,
                "precision": "fp32",
            }
        )

    def qat_teacher(self) -> Teacher:
        """Whose soft targets QAT learns (quantization.qat_teacher): the project's teacher or the fp32 student."""
        if self.quantization.qat_teacher == "student":
            return teacher_from_distilled(self.student, self.data)
        return self.teacher

    def cache_inputs(self) -> dict[str, Any]:
        q = self.quantization
        teacher = self.student.fingerprint() if q.qat_teacher == "student" else self.teacher.fingerprint
        return {
            "student": self.student.fingerprint(),
            "data": self.data.fingerprint,
            "teacher": teacher,
            "recipe": self.qat_recipe().model_dump(mode="json"),
            "quantization": q.model_dump(
                mode="json", include={"qat_epochs", "qat_freeze_epochs", "qat_teacher", "io_dtype"}
            ),
        }

    def run(self, workdir: Path) -> tuple[dict[str, str], QATResult]:
        from edgedistill.export.io_types import set_io_dtype
        from edgedistill.export.qat import QATStudent, export_qat_tflite

        arch, q = self.student.result.arch, self.quantization
        shape = arch.shape
        recipe = self.qat_recipe()
        with self.progress.task("preparing quantization-aware training"):
            qat = QATStudent(load_student(self.student), shape)
        # ranges are observed for at least the first epoch (a range never observed cannot convert)
        freeze_from = max(2, recipe.epochs - q.qat_freeze_epochs + 1)

        def epoch_start(epoch: int) -> None:
            if epoch >= freeze_from:
                qat.freeze_observers()

        result, _ = distill_into(
            qat,
            student_view(self.data, arch),
            self.data,
            self.qat_teacher(),
            recipe,
            self.progress,
            "quantization-aware training",
            workdir,
            epoch_start=epoch_start,
        )
        with self.progress.task(f"converting {QAT_MODEL}"):
            export_qat_tflite(qat, workdir / QAT_MODEL, workdir / "convert.log")
            set_io_dtype(workdir / QAT_MODEL, workdir / QAT_MODEL, q.io_dtype)
        write_torch(workdir / QAT_STATE, result.best_state)
        return {"tflite_int8": QAT_MODEL, "state": QAT_STATE}, QATResult(
            val_accuracy=val_accuracy(workdir / QAT_MODEL, self.data, arch),
            fake_quant_val_accuracy=round(result.best_val_accuracy, 3),
            epochs=recipe.epochs,
            lr=recipe.lr,
            teacher=q.qat_teacher,
            observers_fixed_from_epoch=freeze_from if freeze_from <= recipe.epochs else None,
            best_epoch=result.best_epoch,
            history=result.history,
        )


@register_stage
@dataclass
class Int8ChoiceStage(Stage[ExportResult]):
    """export's files with tflite_int8 the better of PTQ and QAT on validation (QAT when mode is qat)."""

    name = "int8_choice"
    version = 1
    output_type = ExportResult
    tools = ("ai-edge-litert",)  # reads the chosen file's tensors

    exported: StageOutput[ExportResult]
    qat: StageOutput[QATResult]
    verdict: QATVerdict

    def cache_inputs(self) -> dict[str, Any]:
        verdict = self.verdict.model_dump(mode="json")
        return {"exported": self.exported.fingerprint(), "qat": self.qat.fingerprint(), "verdict": verdict}

    def run(self, workdir: Path) -> tuple[dict[str, str], ExportResult]:
        ptq, qat = self.verdict.ptq_val_accuracy, self.qat.result.val_accuracy
        assert ptq is not None  # QAT runs only after a PTQ model scored on validation
        shipped: Literal["ptq", "qat"]
        if self.verdict.mode == "qat":
            shipped, why = "qat", "quantization.mode is qat"
        elif qat > ptq:
            shipped, why = "qat", f"QAT {qat:.2f}% beats PTQ {ptq:.2f}% on validation"
        else:
            shipped, why = "ptq", f"QAT {qat:.2f}% does not beat PTQ {ptq:.2f}% on validation"
        for fmt, filename in self.exported.files.items():
            source = (
                self.qat.path("tflite_int8") if fmt == "tflite_int8" and shipped == "qat" else self.exported.path(fmt)
            )
            shutil.copyfile(source, workdir / filename)
        artifacts = dict(self.exported.result.artifacts)
        if shipped == "qat":
            before = artifacts["tflite_int8"]
            made = describe_artifact("tflite_int8", workdir / FILENAMES["tflite_int8"])
            artifacts["tflite_int8"] = updated(made, io_dtype=before.io_dtype, method="qat")
        choice = Int8Choice(
            **self.verdict.model_dump(exclude={"run_qat"}),
            qat=QATSummary.model_validate(self.qat.result.model_dump(include=set(QATSummary.model_fields))),
            qat_seconds=self.qat.seconds,
            shipped=shipped,
            shipped_because=why,
        )
        return dict(self.exported.files), updated(self.exported.result, artifacts=artifacts, int8_choice=choice)
