"""The summary a build prints: the models table and one line per check, rendered from report.json."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _device_cells(artifact: dict[str, Any]) -> list[str]:
    lat = artifact.get("device_latency_ms") or {}
    rss = artifact.get("device_peak_rss_kb")
    return [_fmt(lat.get("p50"), ".3f"), _fmt(lat.get("p99"), ".3f"), _fmt(rss / 1024 if rss else None, ".1f")]


def print_summary(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"edgedistill build: {report['project']} for {report['target']['name']}")
    on_device = isinstance(report["device"], dict)
    columns = ["model", "size", "params", "MACs", "test acc %", "agree %", "estimate ms", "host p50 ms", "host p99 ms"]
    columns += ["peak RSS MB"]
    columns += ["device p50 ms", "device p99 ms", "device RSS MB"] if on_device else []
    for col in columns:
        table.add_column(col, justify="right" if col != "model" else "left")
    t, s = report["teacher"], report["student"]
    pad = [""] * (len(columns) - 6)
    table.add_row(
        "teacher",
        f"{t['file_bytes'] / 1024:.0f} KiB",
        _fmt(t["params"], ","),
        _fmt(t["macs"], ","),
        f"{t['accuracy']:.2f}",
        "",
        *pad,
    )
    if report.get("baseline"):
        b = report["baseline"]
        table.add_row(
            "student, labels only", "", f"{b['params']:,}", f"{b['macs']:,}", f"{b['test_accuracy']:.2f}", "", *pad
        )
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
            _fmt(a.get("estimate_ms"), ".3f"),
            _fmt(lat.get("p50"), ".3f"),
            _fmt(lat.get("p99"), ".3f"),
            _fmt(rss / 1024 if rss else None, ".1f"),
            *(_device_cells(a) if on_device else []),
        )
    console.print(table)
    c = report["checks"]
    lines = []
    drop = report.get("int8_drop")
    if drop and drop["past_tolerance"]:  # the headline: an app team must not ship this unawares
        lines.append(
            f"[bold red]int8 falls short:[/] tflite_int8 is {drop['points']:.2f} points below {drop['against']} on "
            f"the test split (tolerance {drop['tolerance_points']:g}) after every fix that ran"
        )
    lines.append(f"student keeps {c['student_retention_of_teacher'] * 100:.1f}% of the teacher's accuracy")
    estimate = report.get("latency_estimate") or {}
    if "calibration" in estimate:
        lines.append(
            f"estimate ms: from the {estimate['device']} calibration ({estimate['machine']}, {estimate['threads']} "
            f"threads; {estimate['calibration']})"
        )
    elif estimate.get("skipped"):
        lines.append(f"no latency estimate: {estimate['skipped']}")
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
        lines.append(
            f"unstructured: {u['weight_sparsity']:.0%} of conv/linear weights are zero, val {u['val_accuracy']:.2f}%; {u['note']}"
        )
    lines += [f"[yellow]warning:[/] {w}" for w in report.get("warnings", [])]
    if "int8_gate" in c:
        lines.append(f"int8 gate: {c['int8_gate']}")
        if "int8_accuracy_drop_vs_fp32_points" in c:
            drop = c["int8_accuracy_drop_vs_fp32_points"]
            lines.append(
                f"int8 TFLite accuracy is {abs(drop):.2f} points {'below' if drop >= 0 else 'above'} the fp32 TFLite"
            )
        lines.append(f"int8 file is 1/{c['teacher_fp32_bytes_over_int8_bytes']:.0f} of the teacher's fp32 checkpoint")
    lines += _quantization_lines(report)
    if report.get("recommended"):
        lines.append(f"recommended: {report['recommended']['model']} ({report['recommended']['because']})")
    device = report["device"]
    lines.append(
        f"device: {device if isinstance(device, str) else device['device'] + ' (' + device['target'] + ', ' + device['runtime'] + ')'}"
    )
    stages = ", ".join(
        st["name"] + (" (cached)" if st["cached"] else f" {st['seconds']:.1f} s") for st in report["stages"]
    )
    lines.append(f"stages: {stages}")
    for line in lines:
        console.print(line)


def _budget_line(report: dict[str, Any]) -> list[str]:
    budget = report.get("budget")
    if not budget:
        return []
    candidates = budget["candidates"]
    chosen = next(c for c in candidates if c["chosen"])
    fits = sum(c["fits"] for c in candidates)
    limits = ", ".join(f"{k} {v:g}" for k, v in budget["budget"].items())
    return [
        f"budget ({limits}): {chosen['name']} chosen, {chosen['val_accuracy']:.2f}% on validation after "
        f"{chosen['proxy_epochs']} proxy epoch(s), int8 {chosen['latency_ms']:.3f} ms ({chosen['latency_source']}); "
        f"{fits} of {len(candidates)} candidates within budget (report.json -> budget)"
    ]


def _quantization_lines(report: dict[str, Any]) -> list[str]:
    lines = _budget_line(report)
    onnx_int8 = report["artifacts"].get("onnx_int8")
    if onnx_int8 and "candidates" in onnx_int8.get("calibration", {}):
        cal = onnx_int8["calibration"]
        tried = ", ".join(f"{m} {r['val_accuracy']:.2f}%" for m, r in cal["candidates"].items())
        lines.append(f"onnx_int8 calibration: {cal['method']} (validation accuracy: {tried})")
    int8 = report["artifacts"].get("tflite_int8") or {}
    ptq = int8.get("ptq")
    if ptq and len(ptq["val_accuracy"]) > 1:
        tried = ", ".join(f"{r} {acc:.2f}%" for r, acc in ptq["val_accuracy"].items())
        lines.append(f"tflite_int8 PTQ: {ptq['kept']} kept (validation accuracy: {tried})")
    q = report.get("quantization")
    if q:
        line = f"tflite_int8 by {q['shipped'].upper()}: {q['shipped_because']}"
        if "qat" in q:
            line += (
                f" (validation: fp32 {q['fp32_val_accuracy']:.2f}%, PTQ {q['ptq_val_accuracy']:.2f}%, "
                f"QAT {q['qat']['val_accuracy']:.2f}% after {q['qat']['epochs']} epochs, {q['qat_seconds']:.0f} s)"
            )
        lines.append(line)
    diagnosis = report.get("int8_layer_errors")
    if diagnosis:
        head = f"int8 is {diagnosis['drop_vs_fp32_points']:.2f} points below fp32 (tolerance {diagnosis['tolerance_points']:g})"
        worst = ", ".join(f"{e['layer']} {e['op']} {e['sqnr_db']:.1f} dB" for e in diagnosis["worst_first"][:5])
        lines.append(f"{head}; worst layers by SQNR: {worst} (all in report.json -> int8_layer_errors)")
    return lines
