"""export: the distilled student as ONNX fp32, TFLite fp32 and full-integer int8 TFLite."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from edgedistill.export.inspect_tflite import io_details
from edgedistill.pipeline.cache import StageOutput
from edgedistill.pipeline.config import ExportConfig, QuantizationConfig
from edgedistill.pipeline.data import DataBundle
from edgedistill.pipeline.progress import Progress
from edgedistill.pipeline.stages.base import Stage, register_stage
from edgedistill.pipeline.stages.distill import load_student
from edgedistill.pipeline.training import make_normalizer, to_unit_tensor

FILENAMES = {"onnx": "model.onnx", "tflite_fp32": "model_fp32.tflite", "tflite_int8": "model_int8.tflite"}
LAYOUT = {"onnx": "NCHW", "tflite_fp32": "NHWC", "tflite_int8": "NHWC"}


def calibration_samples(data: DataBundle, arch: dict, count: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """`count` training images, labelled or from the transfer set (a fixed random subset), preprocessed for the student, one at a time."""
    pool = np.concatenate([data.train.x, data.transfer.x])
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(pool))[: min(count, len(pool))]
    normalize = make_normalizer(data.mean, data.std, tuple(arch["input_hw"]))
    x = normalize(to_unit_tensor(pool[np.sort(idx)], data.pixel_max))
    for i in range(len(x)):
        yield x[i : i + 1]


@register_stage
@dataclass
class ExportStage(Stage):
    name = "export"
    version = 2

    student: StageOutput  # from distill
    data: DataBundle
    export: ExportConfig
    quantization: QuantizationConfig
    progress: Progress

    def cache_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {"student": self.student.fingerprint(), "export": self.export.model_dump(mode="json")}
        if "tflite_int8" in self.export.formats:  # calibration only matters to the int8 model
            inputs["quantization"] = self.quantization.model_dump(mode="json")
            inputs["data"] = self.data.fingerprint
        return inputs

    def run(self, workdir: Path) -> tuple[dict[str, str], dict[str, Any]]:
        from edgedistill.export.onnx_export import export_onnx
        from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_int8

        arch = self.student.meta["arch"]
        shape = (arch["in_channels"], *arch["input_hw"])
        log = workdir / "convert.log"
        files: dict[str, str] = {}
        meta: dict[str, Any] = {"artifacts": {}}
        for fmt in self.export.formats:
            dest = workdir / FILENAMES[fmt]
            model = load_student(self.student)  # a fresh copy: conversion may rewrite the module
            with self.progress.task(f"exporting {FILENAMES[fmt]}"):
                if fmt == "onnx":
                    export_onnx(model, shape, dest)
                elif fmt == "tflite_fp32":
                    export_tflite_fp32(model, shape, dest, log)
                else:
                    samples = calibration_samples(self.data, arch, self.quantization.calibration_samples)
                    used = export_tflite_int8(model, shape, samples, dest, log)
                    meta["calibration_samples"] = used
            files[fmt] = FILENAMES[fmt]
            info: dict[str, Any] = {
                "format": fmt,
                "layout": LAYOUT[fmt],
                "size_bytes": dest.stat().st_size,
                "gzip_bytes": len(gzip.compress(dest.read_bytes(), mtime=0)),  # what a download or an app bundle stores
            }
            if fmt.startswith("tflite"):
                info.update(io_details(dest))
            else:
                info.update(
                    inputs=[{"name": "input", "shape": [1, *shape], "dtype": "float32", "scale": 0.0, "zero_point": 0}],
                    outputs=[{"name": "logits", "shape": [1, arch["num_classes"]], "dtype": "float32", "scale": 0.0, "zero_point": 0}],
                )
            meta["artifacts"][fmt] = info
        return files, meta
