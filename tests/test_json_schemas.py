"""The published JSON Schemas: committed, generated from the models, and strict enough to catch a bad document."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from edgedistill.json_schemas import FOLDER, SCHEMAS, rendered


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_committed_schema_is_the_one_the_models_generate(name):
    assert (FOLDER / name).read_text() == rendered(SCHEMAS[name]), (
        f"edgedistill/schemas/{name} is stale: run python -m edgedistill.json_schemas"
    )


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_committed_schema_is_a_valid_json_schema(name):
    Draft202012Validator.check_schema(json.loads((FOLDER / name).read_text()))


def _errors(name: str, document: dict) -> list[str]:
    validator = Draft202012Validator(json.loads((FOLDER / name).read_text()))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_a_built_manifest_validates_and_a_broken_one_does_not(built_project):
    assert _errors("manifest.schema.json", built_project.manifest) == []
    broken = copy.deepcopy(built_project.manifest)
    broken["models"]["tflite_int8"]["input"]["zero_point"] = "0"  # a string where an app reads an integer
    del broken["labels"]
    broken["schema_version"] = 7  # a manifest of another schema version is not this schema's
    broken["target"]["gpu"] = "none"  # nor is a target with a field the schema does not know
    errors = _errors("manifest.schema.json", broken)
    assert any(e.startswith("models.tflite_int8.input.zero_point:") for e in errors)
    assert any("'labels' is a required property" in e for e in errors)
    assert any(e.startswith("schema_version:") for e in errors) and any(e.startswith("target:") for e in errors)


def test_a_built_report_validates_and_metrics_must_be_numbers(built_project):
    assert _errors("report.schema.json", built_project.report) == []
    broken = copy.deepcopy(built_project.report)
    broken["artifacts"]["tflite_int8"]["accuracy"] = "98%"  # a task metric is a number
    broken["surprise"] = 1  # no field outside the schema
    errors = _errors("report.schema.json", broken)
    assert any(e.startswith("artifacts.tflite_int8.accuracy:") for e in errors)
    assert any("surprise" in e for e in errors)
