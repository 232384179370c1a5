"""report.json: every stage's numbers gathered in one document (the console and the HTML page render it)."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import TYPE_CHECKING, Any

from edgedistill.devices.profiles import DeviceProfile
from edgedistill.fsutil import sha256_json
from edgedistill.pipeline.config import ProjectConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.students.profile import profile_model

if TYPE_CHECKING:  # the chain's result is only read here; orchestration stays above the report
    from edgedistill.pipeline.distill_chain import Distilled

REPORT_SCHEMA = 1
NOT_ON_DEVICE = "not measured on a device"
_PACKAGES = ("edgedistill", "torch", "litert-torch", "ai-edge-litert", "onnx", "onnxruntime", "numpy", "pydantic")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _baseline(out: StageOutput) -> dict[str, Any]:
    keys = ("params", "macs", "labelled_samples", "val_accuracy", "test_accuracy", "best_epoch", "history")
    return {
        "what": "the same student trained on the hard labels alone, same recipe and steps",
        **{k: out.meta[k] for k in keys},
    }


def checks(
    teacher_acc: float,
    student_acc: float,
    artifacts: dict[str, Any],
    teacher_bytes: int,
    baseline: StageOutput | None = None,
) -> dict[str, Any]:
    """The headline numbers a reviewer asks for first."""
    out: dict[str, Any] = {"student_retention_of_teacher": round(student_acc / teacher_acc, 4) if teacher_acc else None}
    if baseline is not None:
        out["distillation_gain_points"] = round(student_acc - baseline.meta["test_accuracy"], 3)
    int8 = artifacts.get("tflite_int8")
    if int8:
        out["int8_gate"] = int8.get("int8_gate", "not run")
        fp32 = artifacts.get("tflite_fp32")
        if fp32:
            out["int8_accuracy_drop_vs_fp32_points"] = round(fp32["accuracy"] - int8["accuracy"], 3)
        out["int8_accuracy_drop_vs_student_points"] = round(student_acc - int8["accuracy"], 3)
        out["teacher_fp32_bytes_over_int8_bytes"] = round(teacher_bytes / int8["size_bytes"], 2)
    return out


def assemble_report(
    *,
    config: ProjectConfig,
    target: DeviceProfile,
    data: DataBundle,
    teacher: Teacher,
    chain: Distilled,
    student: StageOutput,
    exported: StageOutput,
    verified: StageOutput,
    bench: StageOutput | None,
    timings: list[dict[str, Any]],
    on_device: dict[str, Any] | None = None,
    quantization: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every number of the build in one JSON-able dict (report.json)."""
    c = data.image_shape[2]
    try:
        teacher_profile = profile_model(teacher.module, (c, *teacher.input_hw)) if teacher.module is not None else None
    except RuntimeError:
        teacher_profile = None
    distilled, v = student, verified.meta
    artifacts: dict[str, Any] = {}
    for fmt, info in exported.meta["artifacts"].items():
        entry = {
            "file": exported.files[fmt],
            "size_bytes": info["size_bytes"],
            "gzip_bytes": info["gzip_bytes"],
            "sha256": exported.sha256[fmt],
            **{k: info[k] for k in ("io_dtype", "calibration", "method", "ptq") if k in info},
            **v["artifacts"][fmt],
        }
        if bench is not None:
            b = bench.meta["artifacts"][fmt]
            entry.update(host_latency_ms=b["latency_ms"], host_peak_rss_kb=b["peak_rss_kb"], host_benchmark=b)
        if on_device is not None and fmt in on_device["artifacts"]:
            d = on_device["artifacts"][fmt]
            entry.update(device_latency_ms=d["latency_ms"], device_peak_rss_kb=d["peak_rss_kb"], device_benchmark=d)
        artifacts[fmt] = entry
    return {
        "schema": REPORT_SCHEMA,
        "project": config.name,
        "target": target.to_dict(),
        "config_hash": sha256_json(config.model_dump(mode="json")),
        "config": config.model_dump(mode="json"),
        "versions": library_versions(),
        "data": {
            "source": data.source,
            "classes": data.class_names,
            "image_shape_hwc": list(data.image_shape),
            "train": len(data.train),
            "transfer_unlabeled": len(data.transfer),
            "val": len(data.val),
            "test": len(data.test),
            **({"skipped_images": data.skipped_images} if data.skipped_images else {}),
        },
        "teacher": {
            "description": teacher.description,
            # an ONNX teacher has no parameters to count, a TorchScript one takes no hooks: None, not 0
            "params": (teacher_profile.params or None) if teacher_profile else None,
            "macs": (teacher_profile.macs or None) if teacher_profile else None,
            "file_bytes": teacher.file_size,
            "input_hw": list(teacher.input_hw),
            "accuracy": v["teacher"]["accuracy"],
            **chain.teacher_check,
        },
        "student": {
            "arch": distilled.meta["arch"],
            "params": distilled.meta["params"],
            "macs": distilled.meta["macs"],
            "val_accuracy": distilled.meta["val_accuracy"],
            "best_epoch": distilled.meta["best_epoch"],
            "history": distilled.meta["history"],
            "samples": distilled.meta["samples"],
            "teacher_outputs": distilled.meta["teacher_outputs"],
            "accuracy": v["student"]["accuracy"],
        },
        "distillation_chain": chain.links,
        "pruning": distilled.meta.get("pruning"),
        "baseline": None if chain.baseline is None else _baseline(chain.baseline),
        "artifacts": artifacts,
        "checks": checks(
            v["teacher"]["accuracy"], v["student"]["accuracy"], artifacts, teacher.file_size, chain.baseline
        ),
        "quantization": quantization,  # how tflite_int8 was made (PTQ or QAT) and why
        "int8_drop": v.get("int8_drop"),  # tflite_int8 against fp32 on the test split, and the tolerance
        "int8_layer_errors": v.get("int8_layer_errors"),
        "warnings": chain.warnings,
        "host_benchmark": None
        if bench is None
        else {"threads": bench.meta["threads"], "machine": bench.meta["machine"]},
        "device": NOT_ON_DEVICE if on_device is None else {k: v for k, v in on_device.items() if k != "artifacts"},
        "test_samples": v["test_samples"],
        "stages": timings,
    }
