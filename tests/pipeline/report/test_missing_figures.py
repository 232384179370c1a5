"""Every report path renders a report whose figures are zero (a teacher at 0%: retention undefined) or missing
(every field that may be null, null: data without labels, nothing measured on a device, no baseline, no int8)."""

from __future__ import annotations

import io
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel
from rich.console import Console

from edgedistill.contracts import Manifest, Report
from edgedistill.pipeline.report.console import print_summary
from edgedistill.pipeline.report.html import render_html


def _zeroed(value: Any) -> Any:
    """Every float figure 0."""
    if isinstance(value, dict):
        return {k: _zeroed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_zeroed(v) for v in value]
    return 0.0 if isinstance(value, float) else value


def _nullable(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation
    )


def _nulled(model: BaseModel) -> dict[str, Any]:
    """Every field that may be null, null; the models inside treated the same."""
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = field.alias or name
        if _nullable(field.annotation):
            out[key] = None
        elif isinstance(value, BaseModel):
            out[key] = _nulled(value)
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            out[key] = {k: _nulled(v) for k, v in value.items()}
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            out[key] = [_nulled(v) for v in value]
        else:
            out[key] = value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else value
    return out


def _variants(built_project) -> dict[str, tuple[Report, Manifest]]:
    report = Report.model_validate(built_project.report)
    manifest = Manifest.model_validate(built_project.manifest)
    zero = Report.model_validate(_zeroed(built_project.report))
    assert zero.teacher.metric("accuracy") == 0.0
    null = Report.model_validate(_nulled(report))
    assert null.device is None and null.baseline is None and null.int8_drop is None
    null_manifest = Manifest.model_validate(_nulled(manifest))
    return {"zero": (zero, Manifest.model_validate(_zeroed(built_project.manifest))), "null": (null, null_manifest)}


@pytest.mark.parametrize("variant", ["zero", "null"])
def test_console_page_and_manifest_render_with_figures_zero_or_missing(built_project, variant):
    report, manifest = _variants(built_project)[variant]
    console = Console(file=io.StringIO(), width=300)
    print_summary(report, console)
    assert report.project in console.file.getvalue()
    page = render_html(report, manifest)
    assert "</html>" in page and report.project in page
    assert Manifest.model_validate_json(manifest.model_dump_json(by_alias=True)) == manifest
