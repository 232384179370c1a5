"""report.html: the build as a page an app engineer reads, made from report.json and manifest.json.

One self-contained file: inline CSS and SVG, no script or font from the network. `edgedistill report
build/<target>` renders it again from the two JSON files.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edgedistill.contracts import Manifest, ModelTensor, Report, WithMetrics
from edgedistill.errors import EdgeDistillError
from edgedistill.fsutil import write_text
from edgedistill.pipeline.report.svg_plots import STYLE, distributions, lines, palette, scatter
from edgedistill.pipeline.tasks import Task, get_task

REPORT_HTML = "report.html"
D = TypeVar("D", bound=BaseModel)

CSS = (
    """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f6f6f6; }
.muted { color: #666; } .warn { color: #a15c00; } pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; } code { font-size: 12px; }
"""
    + STYLE
)


SYNTHESIZED_PNG = "synthesized.png"  # data.synthetic: the first synthesized images of each class
PICTURES = (SYNTHESIZED_PNG,)  # images of a build folder report.html inlines


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, spec: str = "") -> str:
    return "–" if value is None else _e(format(value, spec))


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metric_cells(entry: WithMetrics, task: Task, reference: bool = False) -> list[str]:
    values = {**entry.metrics(), **(task.reference_metrics if reference else {})}
    return [_num(values.get(col.metric), col.spec) if col.metric in values else "" for col in task.columns]


def _models_table(report: Report) -> str:
    task = get_task(report.task)
    on_device = report.device is not None
    header = ["model", "size", "gzip", "params", "MACs", *(col.header for col in task.columns), "estimate ms"]
    header += ["host p50 ms", "host p99 ms"]
    header += ["device p50 ms", "device p99 ms"] if on_device else []
    t, s = report.teacher, report.student
    first = ["teacher", f"{t.file_bytes / 1024:.0f} KiB", "", _num(t.params, ","), _num(t.macs, ",")]
    rows = [first + _metric_cells(t, task)]
    if report.baseline:
        b = report.baseline
        labels_only = {task.primary_metric: b.test_accuracy}
        rows.append(
            ["student, labels only", "", "", _num(b.params, ","), _num(b.macs, ",")]
            + [_num(labels_only[col.metric], col.spec) if col.metric in labels_only else "" for col in task.columns]
        )
    for peer in (m for m in report.cohort if not m.shipped):
        measured = {task.primary_metric: peer.test_accuracy}
        rows.append(
            [f"cohort peer, {_e(peer.arch.label)}", "", "", _num(peer.params, ","), _num(peer.macs, ",")]
            + [_num(measured[col.metric], col.spec) if col.metric in measured else "" for col in task.columns]
        )
    rows.append(
        ["student (PyTorch)" + (", pruned" if report.pruning else ""), "", "", _num(s.params, ","), _num(s.macs, ",")]
        + _metric_cells(s, task, reference=True)
    )
    rows = [row + [""] * (len(header) - len(row)) for row in rows]
    for a in report.artifacts.values():
        host, dev = a.host_latency_ms, a.device_latency_ms
        row = [
            f"<code>{_e(a.file)}</code>",
            f"{a.size_bytes / 1024:.1f} KiB",
            f"{a.gzip_bytes / 1024:.1f} KiB",
            "",
            "",
            *_metric_cells(a, task),
            _num(a.estimate_ms, ".3f"),
            _num(host.p50 if host else None, ".3f"),
            _num(host.p99 if host else None, ".3f"),
        ]
        if on_device:
            row += [_num(dev.p50 if dev else None, ".3f"), _num(dev.p99 if dev else None, ".3f")]
        rows.append(row)
    return _table(header, rows)


def _figures(report: Report) -> list[str]:
    task = get_task(report.task)
    key = task.primary_metric
    arts = report.artifacts
    t, s = report.teacher, report.student
    pruned = report.pruning is not None
    student = "student (pruned)" if pruned else "student"
    colors = palette(
        [
            "teacher",
            "labels only",
            *(["before pruning"] if pruned else []),
            student,
            *(a.file for a in arts.values()),
        ]
    )
    axis = f"test {key} %"
    size_points = [("teacher", t.file_bytes / 1024, t.metric(key))]
    size_points += [(a.file, a.size_bytes / 1024, a.metric(key)) for a in arts.values()]
    figures = [scatter(f"test {key} vs file size", "size, KiB (log)", axis, size_points, log_x=True, colors=colors)]
    host = [(a.file, a.host_latency_ms.p50, a.metric(key)) for a in arts.values() if a.host_latency_ms]
    if host:
        figures.append(
            scatter(
                f"test {key} vs host latency (p50)",
                "host latency p50, ms (log)",
                axis,
                host,  # type: ignore[arg-type]  # p50 is measured whenever the runner ran
                log_x=True,
                colors=colors,
            )
        )
    macs = [("teacher", t.macs, t.metric(key))] if t.macs else []
    if report.baseline:
        macs.append(("labels only", report.baseline.macs, report.baseline.test_accuracy))
    if report.pruning:
        macs.append(("before pruning", report.pruning.before.macs, report.pruning.before.val_accuracy))
    macs.append((student, s.macs, s.metric(key)))
    if len(macs) > 1:
        title = f"{key} vs MACs" + (" (before pruning: validation accuracy)" if pruned else "")
        figures.append(scatter(title, "MACs (log)", axis, macs, log_x=True, colors=colors))  # type: ignore[arg-type]
    for where in ("host", "device"):
        samples = [
            (a.file, bench.samples_ms)
            for a in arts.values()
            if (bench := a.host_benchmark if where == "host" else a.device_benchmark) and bench.samples_ms
        ]
        if samples:
            short = {f: f.removeprefix("model").strip("_") for f, _ in samples}
            figures.append(
                distributions(
                    f"{where} latency per run (box: p25-p75, whiskers: p10-p90)",
                    "ms",
                    [(short[f], v) for f, v in samples],
                    colors={short[f]: colors[f] for f, _ in samples},
                )
            )
    budget = report.budget
    trained = [c for c in (budget.candidates if budget else []) if c.val_accuracy is not None]
    if budget and trained and any(c.latency_ms > 0 for c in trained):  # a budget without latency costs no latency
        limit = budget.budget.get("latency_ms")
        figures.append(
            scatter(
                f"budget search: candidates within budget, validation accuracy after {trained[0].proxy_epochs} "
                "proxy epoch(s)",
                f"int8 latency, ms ({trained[0].latency_source})",
                "validation accuracy %",
                [("chosen" if c.chosen else "within budget", c.latency_ms, c.val_accuracy) for c in trained],  # type: ignore[misc]
                x_line=(limit, f"budget {limit:g} ms") if limit else None,
            )
        )
    rounds = [
        (a.file, a.device_benchmark.round_medians_ms)
        for a in arts.values()
        if a.device_benchmark and len(a.device_benchmark.round_medians_ms) > 1
    ]
    if rounds:
        figures.append(lines("device latency, median of each round", "round", "ms", rounds, colors=colors))
    return [figure for figure in figures if figure]  # a chart with no point left to show is left out


def _quantization(tensor: ModelTensor) -> str:
    return f"scale {tensor.scale:.6g}, zero point {tensor.zero_point}" if tensor.dtype in ("int8", "uint8") else "–"


def _manifest_section(manifest: Manifest) -> str:
    pre = manifest.preprocessing
    steps = "".join(f"<li>{_e(step)}</li>" for step in pre.steps)
    rows = []
    for fmt, m in manifest.models.items():
        i, o = m.input, m.output
        rows.append(
            [
                f"<code>{_e(m.file)}</code>" + (" <b>(recommended)</b>" if fmt == manifest.recommended_model else ""),
                _e(m.layout),
                f"{_e(i.shape)} {_e(i.dtype)}",
                _e(_quantization(i)),
                f"{_e(o.shape)} {_e(o.dtype)}",
                _e(_quantization(o)),
            ]
        )
    files = [
        [f"<code>{_e(name)}</code>", f"{info.size_bytes:,}", f"<code>{_e(info.sha256)}</code>"]
        for name, info in manifest.files.items()
    ]
    return (
        _table(["model", "layout", "input", "input quantization", "output", "output quantization"], rows)
        + f"<p>Preprocessing: mean {_e(pre.mean)}, std {_e(pre.std)}, pixel scale {_e(pre.scale)}</p><ol>{steps}</ol>"
        + f"<p>Labels, in output order: {_e(', '.join(map(str, manifest.labels)))}</p>"
        + _table(["file", "bytes", "sha256"], files)
    )


def _layer_errors_section(report: Report) -> str:
    diag = report.int8_layer_errors
    if not diag:
        return ""
    rows = [
        [_e(e.layer), _e(e.op), _e(e.position), _num(e.sqnr_db, ".1f"), _num(e.cosine, ".4f")]
        for e in diag.worst_first[:20]
    ]
    head = f"int8 is {diag.drop_vs_fp32_points:.2f} points below fp32 (tolerance {diag.tolerance_points:g}). "
    return f"<h2>int8 error by layer</h2><p>{_e(head)}{_e(diag.metric)}; worst first.</p>" + _table(
        ["layer", "op", "position", "SQNR dB", "cosine"], rows
    )


def _budget_section(report: Report) -> str:
    budget = report.budget
    if not budget:
        return ""
    rows = [
        [
            _e(c.name + (" (chosen)" if c.chosen else "")),
            _num(c.params, ","),
            _num(c.latency_ms, ".3f"),
            _num(c.size_bytes / 1024, ".1f"),
            _num(c.ram_bytes / 1024, ".0f"),
            "yes" if c.fits else _e(", ".join(f"{k} {v:+.0%}" for k, v in c.over.items())),
            _num(c.val_accuracy, ".2f") if c.val_accuracy is not None else _e(c.not_trained or "not trained"),
        ]
        for c in budget.candidates
    ]
    limits = ", ".join(f"{k} {v:g}" for k, v in budget.budget.items())
    margin = (
        f" Estimates carry a {budget.latency_margin:.1%} margin, from {budget.latency_margin_source}."
        if budget.latency_margin
        else ""
    )
    return f"<h2>Budget search</h2><p>{_e(limits)}; latency {_e(budget.costed_by)}.{_e(margin)}</p>" + _table(
        ["candidate", "params", "int8 latency ms", "size KiB", "RAM KiB (est.)", "within budget", "val accuracy %"],
        rows,
    )


def _synthesized_section(report: Report, pictures: dict[str, bytes]) -> str:
    made = report.synthesized
    if made is None:
        return ""
    text = (
        f"{made.images} images ({made.per_class} per class, {made.steps} optimisation steps per batch, "
        f"{made.seconds:.0f} s), synthesized from the teacher: the student never saw a real training image. The "
        f"teacher gives {made.teacher_agreement:.1f}% of them the class each was made for."
    )
    grid = pictures.get(SYNTHESIZED_PNG)
    image = (
        f'<p><img alt="the first synthesized images of each class, a row per class" '
        f'src="data:image/png;base64,{base64.b64encode(grid).decode()}"></p>'
        if grid
        else ""
    )
    return f"<h2>Synthesized training images</h2><p>{_e(text)} A row per class, in label order.</p>{image}"


def render_html(report: Report, manifest: Manifest, pictures: dict[str, bytes] | None = None) -> str:
    """The page; pictures: shipped images it shows, by file name (SYNTHESIZED_PNG), inlined."""
    pictures = pictures or {}
    checks = report.checks
    notes = []
    if checks.student_retention_of_teacher is not None:
        notes.append(f"student keeps {checks.student_retention_of_teacher * 100:.1f}% of the teacher's accuracy")
    if checks.int8_gate is not None:
        notes.append(f"int8 gate: {checks.int8_gate}")
    drop = report.int8_drop
    if drop and drop.past_tolerance:
        notes.insert(
            0,
            f"int8 falls short: tflite_int8 is {drop.points:.2f} points below {drop.against} on the test split "
            f"(tolerance {drop.tolerance_points:g})",
        )
    q = report.quantization
    if q:
        notes.append(f"tflite_int8 by {q.shipped.upper()}: {q.shipped_because}")
    notes.append(f"recommended: {report.recommended.model} ({report.recommended.because})")
    estimate = report.latency_estimate
    notes.append(
        f"latency estimate: {estimate.device} calibration ({estimate.machine}, {estimate.threads} threads)"
        if estimate.calibration
        else f"latency estimate: none ({estimate.skipped or 'not made'})"
    )
    device = report.device
    notes.append("device: " + (f"{device.device} ({device.runtime})" if device else "not measured on a device"))
    warnings = "".join(f'<p class="warn">warning: {_e(w)}</p>' for w in report.warnings)
    stages = _table(
        ["stage", "cached", "seconds"],
        [[_e(st.name), "yes" if st.cached else "no", _num(st.seconds, ".1f")] for st in report.stages],
    )
    figures = "".join(_figures(report))
    config = yaml.safe_dump(report.config, sort_keys=False)
    target = report.target
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgedistill: {_e(report.project)} for {_e(target.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>{_e(report.project)} for {_e(target.name)}</h1>
<p class="muted">{_e(target.description)} · config {_e(report.config_hash[:12])} · {report.test_samples} test samples · built in {_num(report.total_seconds, ".0f")} s</p>
{"".join(f"<p>{_e(n)}</p>" for n in notes)}{warnings}
<h2>Models</h2>{_models_table(report)}
<h2>Figures</h2><div class="figures">{figures}</div>
{_layer_errors_section(report)}{_budget_section(report)}{_synthesized_section(report, pictures)}
<h2>How to feed the model (manifest.json)</h2>{_manifest_section(manifest)}
<h2>Stages</h2>{stages}
<h2>Config used</h2><pre>{_e(config)}</pre>
<h2>Library versions</h2><p>{_e(", ".join(f"{k} {v}" for k, v in report.versions.items()))}</p>
</body></html>
"""


def render_build_folder(folder: Path) -> Path:
    """Re-render folder/report.html from its report.json and manifest.json."""
    folder = Path(folder)
    report = _read(folder / "report.json", Report, folder)
    manifest = _read(folder / "manifest.json", Manifest, folder)
    page = render_html(
        report, manifest, {name: (folder / name).read_bytes() for name in PICTURES if (folder / name).is_file()}
    )
    dest = folder / REPORT_HTML
    write_text(dest, page)
    return dest


def _read(path: Path, model: type[D], folder: Path) -> D:
    """A build folder's JSON document, checked against its schema; one line on what is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgeDistillError(f"{path}: not found (is {folder} a build folder?)") from None
    except ValueError as exc:
        raise EdgeDistillError(f"{path}: not valid JSON ({exc})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        version = raw.get("schema_version", raw.get("schema")) if isinstance(raw, dict) else None
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise EdgeDistillError(
            f"{path}: not an edgedistill {model.__name__.lower()} of schema version "
            f"{model.model_fields['schema_version'].default} (found {version}): {where}: {first['msg']}; "
            "build again to re-render it"
        ) from None
