"""report.json: every stage's numbers gathered in one document (the console and the HTML page render it)."""

from __future__ import annotations

import importlib.metadata
import platform
import time
from typing import TYPE_CHECKING, Any

from edgedistill.contracts import (
    ArtifactReport,
    BaselineReport,
    BaselineStudent,
    BudgetSearch,
    Checks,
    DataSummary,
    DeviceInfo,
    DeviceMeasurement,
    ExportResult,
    HostBenchmark,
    HostInfo,
    Int8Choice,
    LatencyEstimate,
    Metrics,
    Recommendation,
    Report,
    StageTiming,
    StudentReport,
    SynthesizedData,
    TeacherReport,
    TrainedStudent,
    VerifiedArtifact,
    VerifyResult,
)
from edgedistill.devices.profiles import DeviceProfile
from edgedistill.fsutil import sha256_json
from edgedistill.pipeline.config import ProjectConfig
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.distill.teacher import Teacher
from edgedistill.pipeline.store.cache import StageOutput
from edgedistill.pipeline.tasks import Task
from edgedistill.students.profile import profile_model

if TYPE_CHECKING:  # the chain's result is only read here; orchestration stays above the report
    from edgedistill.pipeline.distill_chain import Distilled

_PACKAGES = ("edgedistill", "torch", "litert-torch", "ai-edge-litert", "onnx", "onnxruntime", "numpy", "pydantic")


def data_summary(data: DataBundle) -> DataSummary:
    """report.json's data section: the source, its classes and splits, and what was skipped or warned about."""
    return DataSummary(
        source=data.source,
        classes=data.class_names,
        image_shape_hwc=list(data.image_shape),
        train=len(data.train),
        transfer_unlabeled=len(data.transfer),
        val=len(data.val),
        test=len(data.test),
        skipped_images=data.skipped_images or None,
        skipped_files=data.skipped_files or None,
        warnings=data.warnings or None,
    )


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _baseline(out: StageOutput[BaselineStudent]) -> BaselineReport:
    return BaselineReport(
        what="the same student trained on the hard labels alone, same recipe and steps",
        **out.result.model_dump(exclude={"arch"}),
    )


def checks(
    task: Task,
    teacher: Metrics,
    student: Metrics,
    artifacts: dict[str, ArtifactReport],
    teacher_bytes: int,
    baseline: BaselineStudent | None = None,
) -> Checks:
    """The headline numbers a reviewer asks for first, on the task's primary metric."""
    key = task.primary_metric
    teacher_score, student_score = teacher[key], student[key]
    values: dict[str, Any] = {
        "student_retention_of_teacher": round(student_score / teacher_score, 4) if teacher_score else None
    }
    if baseline is not None:
        values["distillation_gain_points"] = round(student_score - baseline.test_accuracy, 3)
    int8 = artifacts.get("tflite_int8")
    if int8:
        values["int8_gate"] = int8.int8_gate or "not run"
        fp32 = artifacts.get("tflite_fp32")
        if fp32:
            values["int8_accuracy_drop_vs_fp32_points"] = task.points_below(fp32.metrics(), int8.metrics())
        values["int8_accuracy_drop_vs_student_points"] = task.points_below(student, int8.metrics())
        values["teacher_fp32_bytes_over_int8_bytes"] = round(teacher_bytes / int8.size_bytes, 2)
    return Checks(**values)


def _artifact(
    fmt: str,
    exported: StageOutput[ExportResult],
    verified: VerifiedArtifact,
    bench: HostBenchmark | None,
    on_device: DeviceMeasurement | None,
    estimate_ms: float | None,
) -> ArtifactReport:
    info = exported.result.artifacts[fmt]
    host = bench.artifacts[fmt] if bench is not None else None
    device = on_device.artifacts.get(fmt) if on_device is not None else None
    return ArtifactReport(
        file=exported.files[fmt],
        size_bytes=info.size_bytes,
        gzip_bytes=info.gzip_bytes,
        sha256=exported.sha256[fmt],
        io_dtype=info.io_dtype,
        calibration=info.calibration,
        method=info.method,
        ptq=info.ptq,
        int8_gate=verified.int8_gate,
        host_latency_ms=host.latency_ms if host else None,
        host_peak_rss_kb=host.peak_rss_kb if host else None,
        host_benchmark=host,
        device_latency_ms=device.latency_ms if device else None,
        device_peak_rss_kb=device.peak_rss_kb if device else None,
        device_benchmark=device,
        estimate_ms=estimate_ms,
        **verified.metrics(),
    )


def assemble_report(
    *,
    config: ProjectConfig,
    task: Task,
    target: DeviceProfile,
    data: DataBundle,
    teacher: Teacher,
    chain: Distilled,
    student: StageOutput[TrainedStudent],
    exported: StageOutput[ExportResult],
    verified: StageOutput[VerifyResult],
    bench: StageOutput[HostBenchmark] | None,
    timings: list[StageTiming],
    recommended: Recommendation,
    estimate: LatencyEstimate,
    estimates_ms: dict[str, float],
    started: float,
    on_device: DeviceMeasurement | None = None,
    quantization: Int8Choice | None = None,
    budget: BudgetSearch | None = None,
    synthesized: SynthesizedData | None = None,
) -> Report:
    """Every number of the build in one document (report.json)."""
    c = data.image_shape[2]
    try:
        teacher_profile = profile_model(teacher.module, (c, *teacher.input_hw)) if teacher.module is not None else None
    except RuntimeError:
        teacher_profile = None
    trained, v = student.result, verified.result
    host = bench.result if bench is not None else None
    artifacts = {
        fmt: _artifact(fmt, exported, v.artifacts[fmt], host, on_device, estimates_ms.get(fmt))
        for fmt in exported.result.artifacts
    }
    return Report(
        task=task.name,
        project=config.name,
        target=target,
        config_hash=sha256_json(config.model_dump(mode="json")),
        config=config.model_dump(mode="json"),
        versions=library_versions(),
        data=data_summary(data),
        teacher=TeacherReport(
            description=teacher.description,
            # an ONNX teacher has no parameters to count, a TorchScript one takes no hooks: None, not 0
            params=(teacher_profile.params or None) if teacher_profile else None,
            macs=(teacher_profile.macs or None) if teacher_profile else None,
            file_bytes=teacher.file_size,
            input_hw=list(teacher.input_hw),
            **v.teacher,
            **chain.teacher_check.model_dump(),
        ),
        student=StudentReport(
            arch=trained.arch,
            params=trained.params,
            macs=trained.macs,
            val_accuracy=trained.val_accuracy,
            best_epoch=trained.best_epoch,
            history=trained.history,
            samples=trained.samples,
            teacher_outputs=trained.teacher_outputs,
            **v.student,
        ),
        distillation_chain=chain.links,
        pruning=trained.pruning,
        baseline=None if chain.baseline is None else _baseline(chain.baseline),
        artifacts=artifacts,
        checks=checks(
            task,
            v.teacher,
            v.student,
            artifacts,
            teacher.file_size,
            None if chain.baseline is None else chain.baseline.result,
        ),
        quantization=quantization,  # how tflite_int8 was made (PTQ or QAT) and why
        int8_drop=v.int8_drop,  # tflite_int8 against fp32 on the test split, and the tolerance
        int8_layer_errors=v.int8_layer_errors,
        warnings=chain.warnings,
        host_benchmark=None if host is None else HostInfo(threads=host.threads, machine=host.machine),
        device=None
        if on_device is None
        else DeviceInfo(
            device=on_device.device, target=on_device.target, threads=on_device.threads, runtime=on_device.runtime
        ),
        test_samples=v.test_samples,
        stages=timings,
        recommended=recommended,
        budget=budget,
        cohort=chain.student.result.cohort,
        synthesized=synthesized,
        latency_estimate=estimate,
        total_seconds=round(time.perf_counter() - started, 3),
    )
