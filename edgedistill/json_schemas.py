"""The JSON Schemas of report.json and manifest.json, generated from their models (edgedistill/contracts.py)
and committed beside them (edgedistill/schemas/), so that an app team's CI can check a shipped manifest with
any JSON Schema validator. Regenerate after changing a model: `python -m edgedistill.json_schemas`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edgedistill.contracts import Manifest, Report
from edgedistill.fsutil import write_text

FOLDER = Path(__file__).with_name("schemas")
SCHEMAS: dict[str, type[BaseModel]] = {"report.schema.json": Report, "manifest.schema.json": Manifest}


def schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as a validator reads it (draft 2020-12), with its version in the title."""
    version = model.model_fields["schema_version"].default
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(mode="serialization"),
        "title": f"edgedistill {model.__name__.lower()}.json, schema version {version}",
    }


def rendered(model: type[BaseModel]) -> str:
    return json.dumps(schema(model), indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, model in SCHEMAS.items():
        write_text(FOLDER / name, rendered(model))
        print(f"wrote {FOLDER / name}")


if __name__ == "__main__":
    main()
