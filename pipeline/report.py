"""report: gather every stage's numbers into report.json and a terminal summary table."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

from rich.console import Console
from rich.table import Table

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


def checks(teacher_acc: float, student_acc: float, artifacts: dict[str, Any], teacher_bytes: int) -> dict[str, Any]:
    """The headline numbers a reviewer asks for first."""
    out: dict[str, Any] = {"student_retention_of_teacher": round(student_acc / teacher_acc, 4) if teacher_acc else None}
    int8 = artifacts.get("tflite_int8")
    if int8:
        out["int8_gate"] = int8.get("int8_gate", "not run")
        fp32 = artifacts.get("tflite_fp32")
        if fp32:
            out["int8_accuracy_drop_vs_fp32_points"] = round(fp32["accuracy"] - int8["accuracy"], 3)
        out["int8_accuracy_drop_vs_student_points"] = round(student_acc - int8["accuracy"], 3)
        out["teacher_fp32_bytes_over_int8_bytes"] = round(teacher_bytes / int8["size_bytes"], 2)
    return out


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def print_summary(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"edgedistill build: {report['project']} for {report['target']['name']}")
    for col in ("model", "size", "params", "MACs", "test acc %", "agree %", "host p50 ms", "host p99 ms", "peak RSS MB"):
        table.add_column(col, justify="right" if col != "model" else "left")
    t, s = report["teacher"], report["student"]
    table.add_row("teacher (PyTorch)", f"{t['file_bytes'] / 1024:.0f} KiB", f"{t['params']:,}", f"{t['macs']:,}", f"{t['accuracy']:.2f}", "", "", "", "")
    table.add_row("student (PyTorch)", "", f"{s['params']:,}", f"{s['macs']:,}", f"{s['accuracy']:.2f}", "100.00", "", "", "")
    for fmt, a in report["artifacts"].items():
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
        )
    console.print(table)
    c = report["checks"]
    lines = [f"student keeps {c['student_retention_of_teacher'] * 100:.1f}% of the teacher's accuracy"]
    if "int8_gate" in c:
        lines.append(f"int8 gate: {c['int8_gate']}")
        if "int8_accuracy_drop_vs_fp32_points" in c:
            drop = c["int8_accuracy_drop_vs_fp32_points"]
            lines.append(f"int8 TFLite accuracy is {abs(drop):.2f} points {'below' if drop >= 0 else 'above'} the fp32 TFLite")
        lines.append(f"int8 file is 1/{c['teacher_fp32_bytes_over_int8_bytes']:.0f} of the teacher's fp32 checkpoint")
    lines.append(f"device: {report['device']}")
    stages = ", ".join(st["name"] + (" (cached)" if st["cached"] else f" {st['seconds']:.1f} s") for st in report["stages"])
    lines.append(f"stages: {stages}")
    for line in lines:
        console.print(line)
