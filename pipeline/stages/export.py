"""export: the student as ONNX (fp32, int8 QDQ) and TFLite (fp32, fp16 weights, dynamic-range int8, full-integer int8)."""

from __future__ import annotations

import copy
import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedistill.contracts import (
    ArtifactInfo,
    CalibrationCandidate,
    ExportResult,
    OnnxCalibration,
    PTQChoice,
    StudentArch,
    TensorSpec,
    TrainedStudent,
    ValidationScores,
    updated,
)
from edgedistill.export.inspect_onnx import io_details as onnx_io
from edgedistill.export.inspect_tflite import io_details as tflite_io
from edgedistill.pipeline.config import EXPORT_FORMATS, ExportConfig, QuantizationConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.data.calibration import calibration_count, calibration_samples
from edgedistill.pipeline.data.transforms import preprocessed_batches
from edgedistill.pipeline.distill.training import accuracy, agreement, evaluate
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.pipeline.student import load_student, student_view
from edgedistill.progress import Progress

FILENAMES = {
    "onnx": "model.onnx",
    "onnx_int8": "model_int8.onnx",
    "tflite_fp32": "model_fp32.tflite",
    "tflite_fp16": "model_fp16.tflite",
    "tflite_dynamic_int8": "model_dynamic_int8.tflite",
    "tflite_int8": "model_int8.tflite",
}
# formats made from another format's file rather than from the PyTorch model
DERIVED_FROM = {"onnx_int8": "onnx", "tflite_fp16": "tflite_fp32", "tflite_dynamic_int8": "tflite_fp32"}
CALIBRATED = ("onnx_int8", "tflite_int8")


@register_stage
@dataclass
class ExportStage(Stage[ExportResult]):
    name = "export"
    version = 6
    output_type = ExportResult
    tools = (
        "torch",
        "torchao",
        "litert-torch",
        "ai-edge-quantizer",
        "ai-edge-litert",
        "flatbuffers",
        "onnx",
        "onnxruntime",
    )

    student: StageOutput[TrainedStudent]  # from distill or prune
    data: DataBundle
    export: ExportConfig
    quantization: QuantizationConfig
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {"student": self.student.fingerprint(), "export": self.export.model_dump(mode="json")}
        if any(fmt in CALIBRATED for fmt in self.export.formats):  # calibration only matters to the int8 models
            inputs["quantization"] = self.quantization.ptq_key()
            inputs["data"] = self.data.fingerprint
        return inputs

    @property
    def _shape(self) -> tuple[int, int, int]:
        return self.student.result.arch.shape

    def _calibration(
        self, advance: Callable[..., None] = lambda description=None, steps=1: None, label: str = ""
    ) -> Iterator[torch.Tensor]:
        for x in calibration_samples(self.data, self.student.result.arch, self.quantization.calibration_samples):
            yield x
            advance(f"calibrating {label}")
        advance(f"converting {label}", 0)  # the samples are used up: conversion runs next

    def run(self, workdir: Path) -> tuple[dict[str, str], ExportResult]:
        wanted = list(self.export.formats)
        needed = set(wanted) | {DERIVED_FROM[f] for f in wanted if f in DERIVED_FROM}
        log = workdir / "convert.log"
        files: dict[str, str] = {}
        artifacts: dict[str, ArtifactInfo] = {}
        calibrated = None
        samples = calibration_count(self.data, self.quantization.calibration_samples)
        for fmt in (f for f in EXPORT_FORMATS if f in needed):  # a base format always comes before what derives from it
            dest = workdir / FILENAMES[fmt]
            steps = samples if fmt == "tflite_int8" else None  # a bar over the calibration samples, else a spinner
            with self.progress.task(f"exporting {FILENAMES[fmt]}", total=steps) as advance:
                extra = self._make(fmt, dest, workdir, log, advance)
            if fmt not in wanted:
                continue  # made only to derive another format from
            files[fmt] = FILENAMES[fmt]
            artifacts[fmt] = updated(self._describe(fmt, dest), **extra)
            if fmt in CALIBRATED:
                calibrated = samples
        for fmt in needed - set(wanted):
            (workdir / FILENAMES[fmt]).unlink(missing_ok=True)
        return files, ExportResult(artifacts=artifacts, calibration_samples=calibrated)

    def _make(self, fmt: str, dest: Path, workdir: Path, log: Path, advance: Callable[..., None]) -> dict[str, Any]:
        """Write one format to dest; returns what the artifact's metadata should add."""
        from edgedistill.export.onnx_export import export_onnx
        from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_from_fp32

        if fmt == "onnx":
            export_onnx(
                load_student(self.student), self._shape, dest
            )  # a fresh copy each time: conversion may rewrite the module
        elif fmt == "tflite_fp32":
            export_tflite_fp32(load_student(self.student), self._shape, dest, log)
        elif fmt in ("tflite_fp16", "tflite_dynamic_int8"):
            export_tflite_from_fp32(workdir / FILENAMES["tflite_fp32"], dest, fmt.removeprefix("tflite_"), log)
        elif fmt == "tflite_int8":
            return {"io_dtype": self.quantization.io_dtype, "method": "ptq", **self._tflite_int8(dest, log, advance)}
        elif fmt == "onnx_int8":
            return {"calibration": self._onnx_int8(workdir / FILENAMES["onnx"], dest, log, advance)}
        return {}

    def _tflite_int8(self, dest: Path, log: Path, advance: Callable[..., None]) -> dict[str, Any]:
        """PTQ with histogram activation ranges. When that falls past tolerance below fp32 on validation, the
        fixes that are on auto are tried in turn (each range, without then with equalization), stopping at the
        first within tolerance; the best on validation is kept (on a tie, the one tried first)."""
        from edgedistill.export.equalize import equalize
        from edgedistill.export.io_types import set_io_dtype
        from edgedistill.export.tflite_export import ACTIVATION_RANGES, export_tflite_int8

        q = self.quantization
        ranges_tried = ACTIVATION_RANGES if q.activation_ranges == "auto" else (q.activation_ranges,)
        candidates = [(r, eq) for r in ranges_tried for eq in _EQUALIZED[q.equalization]]
        calibration = self._calibration(advance, dest.name)
        if len(candidates) > 1 or q.equalization != "off":
            calibration = list(calibration)  # preprocessed once, replayed for each try
        fp32 = self._fp32_val_accuracy()
        tried: dict[str, float] = {}
        equalized_model, equalization = None, None
        for ranges, equalized in candidates:
            model = load_student(self.student)
            if equalized and equalization is None:
                advance(f"exporting {dest.name}: equalizing the student", 0)
                equalized_model, report = equalize(model, calibration)  # type: ignore[arg-type]
                equalization = report.summary()
            if equalized and equalization["skipped"]:  # type: ignore[index]
                equalized = False  # nothing to equalize: the same model as without
            elif equalized:
                model = copy.deepcopy(equalized_model)  # conversion may rewrite the module it is given
            label = _label(ranges, equalized)
            if label in tried:
                continue
            path = dest.with_name(f"{dest.stem}.{label}.tflite")
            advance(f"exporting {dest.name}: {label}", 0)
            export_tflite_int8(model, self._shape, calibration, path, log, ranges)
            set_io_dtype(path, path, q.io_dtype)
            tried[label] = val_accuracy(path, self.data, self.student.result.arch)
            if fp32 - tried[label] <= q.tolerance_points:
                break  # within tolerance: what was tried first is kept
        best = max(tried, key=lambda label: (tried[label], -list(tried).index(label)))
        _keep_candidate(dest, list(tried), best)
        ptq = PTQChoice(
            kept=best,
            activation_ranges=best.removesuffix("+equalized"),
            equalized=best.endswith("+equalized"),
            val_accuracy=tried,
            equalization=equalization,
        )
        return {"ptq": ptq, "val": ValidationScores(accuracy=tried[best], fp32_accuracy=fp32)}

    def _fp32_val_accuracy(self) -> float:
        arch = self.student.result.arch
        logits = evaluate(load_student(self.student), self.data.val, student_view(self.data, arch), self.data.pixel_max)
        return round(accuracy(logits, self.data.val.y), 3)

    def _onnx_int8(self, fp32: Path, dest: Path, log: Path, advance: Callable[..., None]) -> OnnxCalibration:
        """Quantize with the configured calibration method, or with each and keep the best on the validation split;
        with equalization on, from the equalized student's ONNX; on auto, from it too when the best without falls
        past tolerance below fp32 on validation."""
        from edgedistill.export.equalize import equalize
        from edgedistill.export.onnx_export import export_onnx
        from edgedistill.export.onnx_quantize import CALIBRATION_METHODS, quantize_onnx

        choice, q = self.quantization.onnx_calibration, self.quantization
        methods = CALIBRATION_METHODS if choice == "auto" else (choice,)
        if len(methods) == 1 and q.equalization == "off":
            advance(f"exporting {dest.name}: {methods[0]} calibration", 0)
            quantize_onnx(fp32, dest, (x.numpy() for x in self._calibration()), methods[0], log)
            return OnnxCalibration(method=methods[0])
        samples = list(self._calibration())  # preprocessed once, replayed for each method
        calibration = [s.numpy() for s in samples]
        val = self.data.val
        size = self.student.result.arch.input_hw

        def predict(model: Path) -> np.ndarray:
            return split_logits(model, val, self.data, size)

        reference = predict(fp32)
        fp32_accuracy = accuracy(reference, val.y)
        candidates: dict[str, CalibrationCandidate] = {}
        equalization = None
        for equalized in _EQUALIZED[q.equalization]:
            source = fp32
            if equalized:
                if (
                    candidates
                    and fp32_accuracy - max(c.val_accuracy for c in candidates.values()) <= q.tolerance_points
                ):
                    break  # within tolerance without
                advance(f"exporting {dest.name}: equalizing the student", 0)
                model, report = equalize(load_student(self.student), samples)
                equalization = report.summary()
                if equalization["skipped"] and candidates:
                    break  # nothing to equalize: the same model as without
                if equalization["skipped"]:
                    equalized = False  # equalization on, but nothing to equalize: quantize the student as it is
                else:
                    source = dest.with_name(f"{fp32.stem}.equalized.onnx")
                    export_onnx(model, self._shape, source)
            for method in methods:
                label = _label(method, equalized)
                path = dest.with_name(f"{dest.stem}.{label}.onnx")
                advance(f"exporting {dest.name}: trying {label} calibration", 0)
                quantize_onnx(source, path, calibration, method, log)
                logits = predict(path)
                candidates[label] = CalibrationCandidate(
                    val_accuracy=round(accuracy(logits, val.y), 3),
                    val_agreement_with_fp32=round(agreement(logits, reference), 3),
                )
            if source != fp32:
                source.unlink()
        # the best accuracy, then the best agreement; on a tie the one tried first wins
        labels = list(candidates)
        best = max(
            labels,
            key=lambda m: (candidates[m].val_accuracy, candidates[m].val_agreement_with_fp32, -labels.index(m)),
        )
        _keep_candidate(dest, labels, best)
        return OnnxCalibration(
            method=best.removesuffix("+equalized"),
            equalized=best.endswith("+equalized"),
            chosen_by="validation accuracy, then agreement with the fp32 model",
            candidates=candidates,
            equalization=equalization,
        )

    def _describe(self, fmt: str, dest: Path) -> ArtifactInfo:
        return describe_artifact(fmt, dest)


# the equalization choices tried for each setting, in order
_EQUALIZED = {"off": (False,), "on": (True,), "auto": (False, True)}


def _label(ranges: str, equalized: bool) -> str:
    return f"{ranges}+equalized" if equalized else ranges


def _keep_candidate(dest: Path, tried: list[str], best: str) -> None:
    """Of the candidate files <stem>.<name><suffix> beside dest, the best becomes dest; the others go."""
    for name in tried:
        path = dest.with_name(f"{dest.stem}.{name}{dest.suffix}")
        if name == best:
            path.replace(dest)
        else:
            path.unlink()


def describe_artifact(fmt: str, dest: Path) -> ArtifactInfo:
    """What the report and the manifest say of an exported file: layout, sizes, and the input and output tensors
    the file itself declares (a .tflite its quantization too)."""
    io = tflite_io(dest) if fmt.startswith("tflite") else onnx_io(dest)
    inputs = [TensorSpec.model_validate(t) for t in io["inputs"]]
    outputs = [TensorSpec.model_validate(t) for t in io["outputs"]]
    return ArtifactInfo(
        format=fmt,
        layout="NCHW" if fmt.startswith("onnx") else "NHWC",
        size_bytes=dest.stat().st_size,
        gzip_bytes=len(gzip.compress(dest.read_bytes(), mtime=0)),  # what a download or an app bundle stores
        inputs=inputs,
        outputs=outputs,
    )


def val_accuracy(model: Path, data: DataBundle, arch: StudentArch) -> float:
    """An exported model's accuracy on the validation split, at the student's input size."""
    logits = split_logits(model, data.val, data, arch.input_hw)
    return round(accuracy(logits, data.val.y), 3)


def split_logits(model: Path, split, data: DataBundle, size: tuple[int, int]) -> np.ndarray:
    """An exported model's logits over a split (TFLite or ONNX Runtime on the host)."""
    from edgedistill.export.runtimes import load_runtime

    runtime = load_runtime(model)
    return np.concatenate([runtime.predict(x) for x in preprocessed_batches(split, data, size)])
