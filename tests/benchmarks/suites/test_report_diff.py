from __future__ import annotations

import json

from edgedistill.benchmarks.suites.report_diff import compare, leaves, main

BEFORE = {
    "schema": 1,
    "artifacts": {"tflite_int8": {"accuracy": 98.1, "host_latency_ms": {"p50": 0.2}}},
    "stages": [{"name": "distill", "seconds": 40.0, "key": "abc"}],
    "warnings": [],
}


def test_leaves_name_every_scalar_by_its_path():
    assert leaves(BEFORE) == {
        "schema": 1,
        "artifacts.tflite_int8.accuracy": 98.1,
        "artifacts.tflite_int8.host_latency_ms.p50": 0.2,
        "stages.0.name": "distill",
        "stages.0.seconds": 40.0,
        "stages.0.key": "abc",
        "warnings": [],
    }


def test_time_is_skipped_purposeful_changes_are_listed_and_any_other_change_is_caught(tmp_path):
    after = json.loads(json.dumps(BEFORE))
    del after["schema"]
    after["schema_version"] = 2
    after["stages"][0].update(seconds=41.5, key="def")
    after["artifacts"]["tflite_int8"]["host_latency_ms"]["p50"] = 0.3
    result = compare(BEFORE, after)
    assert result["compared"] == result["same"] == 3 and result["measured"] == 2 and not result["differ"]
    assert set(result["on_purpose"]) == {"schema", "stages.0.key"} and result["added"] == ["schema_version"]
    after["artifacts"]["tflite_int8"]["accuracy"] = 98.0
    assert compare(BEFORE, after)["differ"] == {"artifacts.tflite_int8.accuracy": {"before": 98.1, "after": 98.0}}
    after["artifacts"]["tflite_int8"]["accuracy"] = 98.1
    after["stages"][0]["epoch"] = 1.0  # an int written as a float is a change to the document
    before = {**BEFORE, "stages": [{**BEFORE["stages"][0], "epoch": 1}]}
    assert list(compare(before, after)["differ"]) == ["stages.0.epoch"]
    after["artifacts"]["tflite_int8"]["accuracy"] = 98.0
    (tmp_path / "a.json").write_text(json.dumps(BEFORE))
    (tmp_path / "b.json").write_text(json.dumps(after))
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert main([str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0
