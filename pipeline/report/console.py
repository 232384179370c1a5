"""The summary a build prints: the models table and one line per check, rendered from the report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from edgedistill.contracts import ArtifactReport, Report
from edgedistill.pipeline.tasks import get_task


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _device_cells(artifact: ArtifactReport) -> list[str]:
    lat, rss = artifact.device_latency_ms, artifact.device_peak_rss_kb
    return [
        _fmt(lat.p50 if lat else None, ".3f"),
        _fmt(lat.p99 if lat else None, ".3f"),
        _fmt(rss / 1024 if rss else None, ".1f"),
    ]


def print_summary(report: Report, console: Console) -> None:
    task = get_task(report.task)
    table = Table(title=f"edgedistill build: {report.project} for {report.target.name}")
    on_device = report.device is not None
    columns = ["model", "size", "params", "MACs", *(col.header for col in task.columns)]
    columns += ["estimate ms", "host p50 ms", "host p99 ms", "peak RSS MB"]
    columns += ["device p50 ms", "device p99 ms", "device RSS MB"] if on_device else []
    for col in columns:
        table.add_column(col, justify="right" if col != "model" else "left")
    t, s = report.teacher, report.student

    def row(cells: list[str], metrics: dict[str, float]) -> list[str]:
        shown = [_fmt(metrics.get(col.metric), col.spec) if col.metric in metrics else "" for col in task.columns]
        return [*cells, *shown, *[""] * (len(columns) - len(cells) - len(shown))]

    table.add_row(
        *row(["teacher", f"{t.file_bytes / 1024:.0f} KiB", _fmt(t.params, ","), _fmt(t.macs, ",")], t.metrics())
    )
    if report.baseline:
        b = report.baseline
        table.add_row(
            *row(["student, labels only", "", f"{b.params:,}", f"{b.macs:,}"], {task.primary_metric: b.test_accuracy})
        )
    for peer in (m for m in report.cohort if not m.shipped):
        table.add_row(
            *row(
                [f"cohort peer, {peer.arch.label}", "", f"{peer.params:,}", f"{peer.macs:,}"],
                {task.primary_metric: peer.test_accuracy},
            )
        )
    student = {**s.metrics(), **task.reference_metrics}  # the student is the reference: agreement 100%
    table.add_row(*row(["student (PyTorch)", "", f"{s.params:,}", f"{s.macs:,}"], student))
    for a in report.artifacts.values():
        lat, rss = a.host_latency_ms, a.host_peak_rss_kb
        table.add_row(
            a.file,
            f"{a.size_bytes / 1024:.1f} KiB",
            "",
            "",
            *(_fmt(a.metrics().get(col.metric), col.spec) for col in task.columns),
            _fmt(a.estimate_ms, ".3f"),
            _fmt(lat.p50 if lat else None, ".3f"),
            _fmt(lat.p99 if lat else None, ".3f"),
            _fmt(rss / 1024 if rss else None, ".1f"),
            *(_device_cells(a) if on_device else []),
        )
    console.print(table)
    for line in summary_lines(report):
        console.print(line)


def summary_lines(report: Report) -> list[str]:
    """One line per check, under the models table."""
    c = report.checks
    lines = []
    drop = report.int8_drop
    if drop and drop.past_tolerance:  # the headline: an app team must not ship this unawares
        lines.append(
            f"[bold red]int8 falls short:[/] tflite_int8 is {drop.points:.2f} points below {drop.against} on "
            f"the test split (tolerance {drop.tolerance_points:g}) after every fix that ran"
        )
    if c.student_retention_of_teacher is not None:
        lines.append(f"student keeps {c.student_retention_of_teacher * 100:.1f}% of the teacher's accuracy")
    estimate = report.latency_estimate
    if estimate.calibration:
        lines.append(
            f"estimate ms: from the {estimate.device} calibration ({estimate.machine}, {estimate.threads} "
            f"threads; {estimate.calibration})"
        )
    elif estimate.skipped:
        lines.append(f"no latency estimate: {estimate.skipped}")
    if report.baseline and c.distillation_gain_points is not None:
        gain = c.distillation_gain_points
        pruned = report.pruning is not None
        lines.append(
            f"{'the shipped (pruned) student is' if pruned else 'distillation:'} {abs(gain):.2f} points "
            f"{'above' if gain >= 0 else 'below'} the {'unpruned' if pruned else 'same'} student trained on "
            f"{report.baseline.labelled_samples} labels alone ({report.baseline.test_accuracy:.2f}%)"
        )
    pruning = report.pruning
    if pruning and pruning.steps:
        b, a = pruning.before, pruning.steps[-1]
        lines.append(
            f"pruned ({pruning.importance}, ratio {pruning.ratio:g}, {len(pruning.steps)} step(s) + KD fine-tune): "
            f"MACs {b.macs:,} -> {a.macs:,} ({1 - a.macs / b.macs:.0%} fewer), params {b.params:,} -> {a.params:,}, "
            f"val {b.val_accuracy:.2f}% -> {a.val_accuracy:.2f}%"
        )
    if pruning and pruning.unstructured:
        u = pruning.unstructured
        lines.append(
            f"unstructured: {u.weight_sparsity:.0%} of conv/linear weights are zero, val {u.val_accuracy:.2f}%; {u.note}"
        )
    lines += [f"[yellow]warning:[/] {w}" for w in report.warnings]
    if c.int8_gate is not None:
        lines.append(f"int8 gate: {c.int8_gate}")
        if c.int8_accuracy_drop_vs_fp32_points is not None:
            points = c.int8_accuracy_drop_vs_fp32_points
            lines.append(
                f"int8 TFLite accuracy is {abs(points):.2f} points {'below' if points >= 0 else 'above'} the fp32 TFLite"
            )
        if c.teacher_fp32_bytes_over_int8_bytes is not None:
            lines.append(f"int8 file is 1/{c.teacher_fp32_bytes_over_int8_bytes:.0f} of the teacher's fp32 checkpoint")
    lines += _quantization_lines(report)
    lines.append(f"recommended: {report.recommended.model} ({report.recommended.because})")
    device = report.device
    lines.append(
        f"device: {f'{device.device} ({device.target}, {device.runtime})' if device else 'not measured on a device'}"
    )
    stages = ", ".join(st.name + (" (cached)" if st.cached else f" {st.seconds:.1f} s") for st in report.stages)
    lines.append(f"stages: {stages}")
    return lines


def _budget_line(report: Report) -> list[str]:
    budget = report.budget
    if not budget:
        return []
    candidates = budget.candidates
    chosen = next(c for c in candidates if c.chosen)
    fits = sum(c.fits for c in candidates)
    limits = ", ".join(f"{k} {v:g}" for k, v in budget.budget.items())
    lines = [
        f"budget ({limits}): {chosen.name} chosen, {_fmt(chosen.val_accuracy, '.2f')}% on validation after "
        f"{chosen.proxy_epochs} proxy epoch(s), int8 {chosen.latency_ms:.3f} ms ({chosen.latency_source}); "
        f"{fits} of {len(candidates)} candidates within budget (report.json -> budget)"
    ]
    if budget.latency_margin:
        lines.append(
            f"budget latency margin: estimates were raised by {budget.latency_margin:.1%} before they were held to the budget, "
            f"from {budget.latency_margin_source}"
        )
    return lines


def _quantization_lines(report: Report) -> list[str]:
    lines = _budget_line(report)
    onnx_int8 = report.artifacts.get("onnx_int8")
    cal = onnx_int8.calibration if onnx_int8 else None
    if cal and cal.candidates:
        tried = ", ".join(f"{m} {r.val_accuracy:.2f}%" for m, r in cal.candidates.items())
        lines.append(f"onnx_int8 calibration: {cal.method} (validation accuracy: {tried})")
    int8 = report.artifacts.get("tflite_int8")
    ptq = int8.ptq if int8 else None
    if ptq and len(ptq.val_accuracy) > 1:
        tried = ", ".join(f"{r} {acc:.2f}%" for r, acc in ptq.val_accuracy.items())
        lines.append(f"tflite_int8 PTQ: {ptq.kept} kept (validation accuracy: {tried})")
    q = report.quantization
    if q:
        line = f"tflite_int8 by {q.shipped.upper()}: {q.shipped_because}"
        if q.qat is not None:
            line += (
                f" (validation: fp32 {_fmt(q.fp32_val_accuracy, '.2f')}%, PTQ {_fmt(q.ptq_val_accuracy, '.2f')}%, "
                f"QAT {q.qat.val_accuracy:.2f}% after {q.qat.epochs} epochs, {_fmt(q.qat_seconds, '.0f')} s)"
            )
        lines.append(line)
    diagnosis = report.int8_layer_errors
    if diagnosis:
        head = (
            f"int8 is {diagnosis.drop_vs_fp32_points:.2f} points below fp32 (tolerance {diagnosis.tolerance_points:g})"
        )
        worst = ", ".join(f"{e.layer} {e.op} {e.sqnr_db:.1f} dB" for e in diagnosis.worst_first[:5])
        lines.append(f"{head}; worst layers by SQNR: {worst} (all in report.json -> int8_layer_errors)")
    return lines
