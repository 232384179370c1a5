"""report: gather every stage's numbers into report.json and a terminal summary table."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

from rich.console import Console
from rich.table import Table

from edgedistill.devices.profiles import DeviceProfile
from edgedistill.pipeline.cache import StageOutput
from edgedistill.pipeline.config import ProjectConfig
from edgedistill.pipeline.data import DataBundle
from edgedistill.pipeline.distill_chain import Distilled
from edgedistill.pipeline.fsutil import sha256_json
from edgedistill.pipeline.teacher import Teacher
from edgedistill.students.profile import profile_model

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
    return {"what": "the same student trained on the hard labels alone, same recipe and steps", **{k: out.meta[k] for k in keys}}


def checks(
    teacher_acc: float, student_acc: float, artifacts: dict[str, Any], teacher_bytes: int, baseline: StageOutput | None = None
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
            **{k: info[k] for k in ("io_dtype", "calibration") if k in info},
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
        "checks": checks(v["teacher"]["accuracy"], v["student"]["accuracy"], artifacts, teacher.file_size, chain.baseline),
        "int8_layer_errors": v.get("int8_layer_errors"),
        "warnings": chain.warnings,
        "host_benchmark": None if bench is None else {"threads": bench.meta["threads"], "machine": bench.meta["machine"]},
        "device": NOT_ON_DEVICE if on_device is None else {k: v for k, v in on_device.items() if k != "artifacts"},
        "test_samples": v["test_samples"],
        "stages": timings,
    }


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _device_cells(artifact: dict[str, Any]) -> list[str]:
    lat = artifact.get("device_latency_ms") or {}
    rss = artifact.get("device_peak_rss_kb")
    return [_fmt(lat.get("p50"), ".3f"), _fmt(lat.get("p99"), ".3f"), _fmt(rss / 1024 if rss else None, ".1f")]


def print_summary(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"edgedistill build: {report['project']} for {report['target']['name']}")
    on_device = isinstance(report["device"], dict)
    columns = ["model", "size", "params", "MACs", "test acc %", "agree %", "host p50 ms", "host p99 ms", "peak RSS MB"]
    columns += ["device p50 ms", "device p99 ms", "device RSS MB"] if on_device else []
    for col in columns:
        table.add_column(col, justify="right" if col != "model" else "left")
    t, s = report["teacher"], report["student"]
    pad = [""] * (len(columns) - 6)
    table.add_row("teacher", f"{t['file_bytes'] / 1024:.0f} KiB", _fmt(t["params"], ","), _fmt(t["macs"], ","), f"{t['accuracy']:.2f}", "", *pad)
    if report.get("baseline"):
        b = report["baseline"]
        table.add_row("student, labels only", "", f"{b['params']:,}", f"{b['macs']:,}", f"{b['test_accuracy']:.2f}", "", *pad)
    table.add_row("student (PyTorch)", "", f"{s['params']:,}", f"{s['macs']:,}", f"{s['accuracy']:.2f}", "100.00", *pad)
    for a in report["artifacts"].values():
        lat = a.get("host_latency_ms") or {}
        rss = a.get("host_peak_rss_kb")
        table.add_row(
            a["file"],
            f"{a['size_bytes'] / 1024:.1f} KiB",
            "",
            "",
            f"{a['accuracy']:.2f}",
            f"{a['agreement_with_student']:.2f}",
            _fmt(lat.get("p50"), ".3f"),
            _fmt(lat.get("p99"), ".3f"),
            _fmt(rss / 1024 if rss else None, ".1f"),
            *(_device_cells(a) if on_device else []),
        )
    console.print(table)
    c = report["checks"]
    lines = [f"student keeps {c['student_retention_of_teacher'] * 100:.1f}% of the teacher's accuracy"]
    if report.get("baseline"):
        gain = c["distillation_gain_points"]
        pruned = bool(report.get("pruning"))
        lines.append(
            f"{'the shipped (pruned) student is' if pruned else 'distillation:'} {abs(gain):.2f} points "
            f"{'above' if gain >= 0 else 'below'} the {'unpruned' if pruned else 'same'} student trained on "
            f"{report['baseline']['labelled_samples']} labels alone ({report['baseline']['test_accuracy']:.2f}%)"
        )
    pruning = report.get("pruning")
    if pruning and pruning["steps"]:
        b, a = pruning["before"], pruning["steps"][-1]
        lines.append(
            f"pruned ({pruning['importance']}, ratio {pruning['ratio']:g}, {len(pruning['steps'])} step(s) + KD fine-tune): "
            f"MACs {b['macs']:,} -> {a['macs']:,} ({1 - a['macs'] / b['macs']:.0%} fewer), params {b['params']:,} -> {a['params']:,}, "
            f"val {b['val_accuracy']:.2f}% -> {a['val_accuracy']:.2f}%"
        )
    if pruning and pruning.get("unstructured"):
        u = pruning["unstructured"]
        lines.append(f"unstructured: {u['weight_sparsity']:.0%} of conv/linear weights are zero, val {u['val_accuracy']:.2f}%; {u['note']}")
    lines += [f"[yellow]warning:[/] {w}" for w in report.get("warnings", [])]
    if "int8_gate" in c:
        lines.append(f"int8 gate: {c['int8_gate']}")
        if "int8_accuracy_drop_vs_fp32_points" in c:
            drop = c["int8_accuracy_drop_vs_fp32_points"]
            lines.append(f"int8 TFLite accuracy is {abs(drop):.2f} points {'below' if drop >= 0 else 'above'} the fp32 TFLite")
        lines.append(f"int8 file is 1/{c['teacher_fp32_bytes_over_int8_bytes']:.0f} of the teacher's fp32 checkpoint")
    lines += _quantization_lines(report)
    device = report["device"]
    lines.append(f"device: {device if isinstance(device, str) else device['device'] + ' (' + device['target'] + ', ' + device['runtime'] + ')'}")
    stages = ", ".join(st["name"] + (" (cached)" if st["cached"] else f" {st['seconds']:.1f} s") for st in report["stages"])
    lines.append(f"stages: {stages}")
    for line in lines:
        console.print(line)


def _quantization_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    onnx_int8 = report["artifacts"].get("onnx_int8")
    if onnx_int8 and "candidates" in onnx_int8.get("calibration", {}):
        cal = onnx_int8["calibration"]
        tried = ", ".join(f"{m} {r['val_accuracy']:.2f}%" for m, r in cal["candidates"].items())
        lines.append(f"onnx_int8 calibration: {cal['method']} (validation accuracy: {tried})")
    diagnosis = report.get("int8_layer_errors")
    if diagnosis:
        drop = diagnosis["drop_vs_fp32_points"]
        head = "int8 per-layer error" if drop is None else f"int8 is {drop:.2f} points below fp32 (tolerance {diagnosis['tolerance_points']:g})"
        if "worst_first" in diagnosis:
            worst = ", ".join(f"{e['layer']} {e['op']} {e['sqnr_db']:.1f} dB" for e in diagnosis["worst_first"][:5])
            lines.append(f"{head}; worst layers by SQNR: {worst} (all in report.json -> int8_layer_errors)")
        else:
            lines.append(f"{head}; {diagnosis['note']}")
    return lines
