"""Orchestration: config -> data + teacher -> distill -> export -> verify -> benchmark -> report.

Every stage is cached; build/<target>/ is assembled in a temporary folder and swapped into place
only when every stage has passed, so it never holds a partial or failed build.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.devices.profiles import get_device
from edgedistill.pipeline.cache import StageCache, StageOutput
from edgedistill.pipeline.config import ProjectConfig
from edgedistill.pipeline.data import load_data
from edgedistill.pipeline.errors import ConfigError
from edgedistill.pipeline.fsutil import copy_file, sha256_file, sha256_json, write_json
from edgedistill.pipeline.manifest import build_manifest
from edgedistill.pipeline.progress import Progress
from edgedistill.pipeline.report import NOT_ON_DEVICE, REPORT_SCHEMA, checks, library_versions
from edgedistill.pipeline.stages.base import Stage, run_stage
from edgedistill.pipeline.stages.benchmark import HostBenchmarkStage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.stages.export import ExportStage
from edgedistill.pipeline.stages.verify import VerifyStage
from edgedistill.pipeline.teacher import load_teacher
from edgedistill.students.profile import profile_model


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    report: dict[str, Any]
    manifest: dict[str, Any]


def build(config: ProjectConfig, target_name: str, out_root: Path, cache_dir: Path, progress: Progress) -> BuildResult:
    try:
        target = get_device(target_name)
    except KeyError as exc:
        raise ConfigError(f"--target: {exc.args[0]}") from None
    started = time.perf_counter()
    cache = StageCache(cache_dir)
    timings: list[dict[str, Any]] = []

    def run(stage: Stage) -> StageOutput:
        t0 = time.perf_counter()
        out = run_stage(stage, cache)
        timings.append({"name": stage.name, "key": out.key, "cached": out.cached, "seconds": round(time.perf_counter() - t0, 3)})
        return out

    t0 = time.perf_counter()
    data = load_data(config.data)
    teacher = load_teacher(config.teacher, data, progress)
    timings.append({"name": "load", "key": data.fingerprint[:24], "cached": False, "seconds": round(time.perf_counter() - t0, 3)})

    distilled = run(DistillStage(data, teacher, config.student, config.distillation, progress))
    exported = run(ExportStage(distilled, data, config.export, config.quantization, progress))
    verified = run(VerifyStage(data, teacher, distilled, exported, progress))
    bench = run(HostBenchmarkStage(exported, config.benchmark, target, progress)) if config.benchmark.enabled else None

    h, w, c = data.image_shape
    teacher_profile = profile_model(teacher.module, (c, h, w))
    v = verified.meta
    artifacts: dict[str, Any] = {}
    for fmt, info in exported.meta["artifacts"].items():
        entry = {"file": exported.files[fmt], "size_bytes": info["size_bytes"], "sha256": exported.sha256[fmt], **v["artifacts"][fmt]}
        if bench is not None:
            b = bench.meta["artifacts"][fmt]
            entry.update(host_latency_ms=b["latency_ms"], host_peak_rss_kb=b["peak_rss_kb"], host_benchmark=b)
        artifacts[fmt] = entry

    report: dict[str, Any] = {
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
            "val": len(data.val),
            "test": len(data.test),
        },
        "teacher": {
            "description": teacher.description,
            "params": teacher_profile.params,
            "macs": teacher_profile.macs,
            "file_bytes": teacher.file_size,
            "accuracy": v["teacher"]["accuracy"],
        },
        "student": {
            "arch": distilled.meta["arch"],
            "params": distilled.meta["params"],
            "macs": distilled.meta["macs"],
            "val_accuracy": distilled.meta["val_accuracy"],
            "best_epoch": distilled.meta["best_epoch"],
            "history": distilled.meta["history"],
            "accuracy": v["student"]["accuracy"],
        },
        "artifacts": artifacts,
        "checks": checks(v["teacher"]["accuracy"], v["student"]["accuracy"], artifacts, teacher.file_size),
        "host_benchmark": None if bench is None else {"threads": bench.meta["threads"], "machine": bench.meta["machine"]},
        "device": NOT_ON_DEVICE,
        "test_samples": v["test_samples"],
        "stages": timings,
    }
    out_dir = Path(out_root) / target.name
    manifest = _publish(out_dir, report, data, target, distilled, exported, started, config.name)
    return BuildResult(out_dir=out_dir, report=report, manifest=manifest)


def _publish(out_dir, report, data, target, distilled: StageOutput, exported: StageOutput, started: float, project: str) -> dict:
    """Assemble build/<target>/ in a temp folder, then swap it into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        shipped = [(exported.path(fmt), exported.files[fmt]) for fmt in exported.files] + [(distilled.path("student"), "student.pt")]
        for src, name in shipped:
            copy_file(src, staging / name)
        files = {name: {"sha256": sha256_file(staging / name), "size_bytes": (staging / name).stat().st_size} for _, name in shipped}
        artifacts = {fmt: {**info, "file": exported.files[fmt]} for fmt, info in exported.meta["artifacts"].items()}
        manifest = build_manifest(project=project, target=target, data=data, arch=distilled.meta["arch"], artifacts=artifacts, files=files)
        report["total_seconds"] = round(time.perf_counter() - started, 3)
        write_json(staging / "manifest.json", manifest)
        write_json(staging / "report.json", report)
        os.chmod(staging, 0o755)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
