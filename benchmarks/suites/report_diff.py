"""Compare two builds' report.json field by field: every value that does not measure time or memory must be
the same. For a change that should not move any number (a refactor), run the same build before and after it:

    python -m edgedistill.benchmarks.suites.report_diff BEFORE/report.json AFTER/report.json

Prints how many fields were compared and every difference; exits 1 when a compared field differs. Fields are
paths like `artifacts.tflite_int8.accuracy` or `stages.3.seconds` (list items by index).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path
from typing import Any

# the fields that measure time or memory: they differ from run to run (a benchmark's other fields, its runs,
# threads, runtime and machine, are compared)
MEASURED = (
    "total_seconds",
    "stages.*.seconds",
    "stages.*.built_seconds",
    "artifacts.*.host_latency_ms.*",
    "artifacts.*.host_peak_rss_kb",
    "artifacts.*.device_latency_ms.*",
    "artifacts.*.device_peak_rss_kb",
    *(f"artifacts.*.{where}_benchmark.{field}" for where in ("host", "device") for field in ("*_ms", "*_ms.*")),
    *(f"artifacts.*.{where}_benchmark.{f}" for where in ("host", "device") for f in ("peak_rss_kb", "memory_*")),
)
# the fields issue 22 changed on purpose (report schema version 2): listed with what they became, not compared.
# Each pattern names leaves exactly (`*` stands for any part of a path).
CHANGED_ON_PURPOSE = {
    "schema": "renamed schema_version and bumped 1 -> 2: the report is a typed model now",
    "device": "'not measured on a device' (a string where a measured build has an object) is null now",
    "stages.*.key": "cache keys carry the stage record format, bumped so old entries are rebuilt",
    "config_hash": "the config has a `task` field now (classification by default)",
    "config.search.input_scales.*": "the default is written sorted, as a value a user sets is (the generated "
    "example config must load back as the default)",
}


def leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted path: value} for every scalar (and empty container) in a JSON document."""
    if isinstance(doc, dict) and doc:
        return {k: v for key, value in doc.items() for k, v in leaves(value, f"{prefix}{key}.").items()}
    if isinstance(doc, list) and doc:
        return {k: v for i, value in enumerate(doc) for k, v in leaves(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): doc}


def _matches(path: str, patterns: tuple[str, ...] | list[str]) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(path, p)), None)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (1 and 1.0, or true and 1, are not the same value in a document)."""
    return type(a) is type(b) and a == b


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two reports, field by field, over the fields of `before`."""
    old, new = leaves(before), leaves(after)
    result: dict[str, Any] = {"compared": 0, "same": 0, "measured": 0, "on_purpose": {}, "differ": {}, "added": []}
    for path, value in old.items():
        if _matches(path, MEASURED):
            result["measured"] += 1
            continue
        reason = _matches(path, list(CHANGED_ON_PURPOSE))
        if reason is not None:
            result["on_purpose"][path] = {"before": value, "after": new.get(path), "why": CHANGED_ON_PURPOSE[reason]}
            continue
        result["compared"] += 1
        if path in new and same(new[path], value):
            result["same"] += 1
        else:
            result["differ"][path] = {"before": value, "after": new.get(path, "<missing>")}
    result["added"] = sorted(p for p in new if p not in old and not _matches(p, MEASURED))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    args = parser.parse_args(argv)
    result = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
    print(
        f"{result['compared']} fields compared: {result['same']} the same, {len(result['differ'])} differ; "
        f"{result['measured']} time/memory fields skipped; {len(result['on_purpose'])} changed on purpose; "
        f"{len(result['added'])} new fields"
    )
    for path, d in result["on_purpose"].items():
        print(f"  on purpose  {path}: {d['before']!r} -> {d['after']!r} ({d['why']})")
    for path, d in result["differ"].items():
        print(f"  DIFFERS     {path}: {d['before']!r} -> {d['after']!r}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 1 if result["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
