"""Publishing build/<target>/ all at once, and cleaning up after a build killed while publishing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from edgedistill.errors import EdgeDistillError
from edgedistill.pipeline.store.cache import StageCache
from edgedistill.pipeline.store.publish import publish, recover
from tests.edgedistill.disk_log import record_disk


class Empty(BaseModel):
    pass


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_folder(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_publish_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "build" / "rpi4"
    write_folder(out, {"old.tflite": "old", "report.json": "{}"})
    src = tmp_path / "model.tflite"
    src.write_text("new model")
    publish(out, {"model.tflite": src}, {"report.json": {"ok": True}}, {"report.html": "<html></html>"})
    assert contents(out) == {
        "model.tflite": "new model",
        "report.json": '{\n  "ok": true\n}\n',
        "report.html": "<html></html>",
    }
    assert sorted(p.name for p in out.parent.iterdir()) == ["rpi4"]


def test_publish_failure_keeps_the_previous_build(tmp_path):
    out = tmp_path / "build" / "rpi4"
    write_folder(out, {"model.tflite": "previous"})
    with pytest.raises(EdgeDistillError, match="rpi4: cannot write the build"):
        publish(out, {"model.tflite": tmp_path / "does-not-exist.tflite"}, {}, {})
    assert contents(out) == {"model.tflite": "previous"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["rpi4"]


def test_recover_restores_a_build_killed_between_the_two_renames(tmp_path):
    out = tmp_path / "build" / "rpi4"
    pid = dead_pid()
    write_folder(out.with_name(f".rpi4.old-{pid}-0"), {"model.tflite": "previous"})
    write_folder(out.with_name(f".rpi4.staging-{pid}-x1y2"), {"model.tflite": "half of the ne"})
    done = recover(out)
    assert contents(out) == {"model.tflite": "previous"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["rpi4"]
    assert done == [f"restored the previous build from .rpi4.old-{pid}-0", f"removed .rpi4.staging-{pid}-x1y2"]


def test_recover_removes_leftovers_but_not_those_of_a_live_build_or_other_targets(tmp_path):
    out = tmp_path / "build" / "rpi4"
    write_folder(out, {"model.tflite": "current"})
    pid = dead_pid()
    live = out.with_name(f".rpi4.staging-{os.getpid()}-abcd")
    others = [out.with_name(f".rpi4-b.staging-{pid}-abcd"), out.with_name(".rpi4.notes")]
    for folder in [out.with_name(f".rpi4.old-{pid}-0"), out.with_name(f".rpi4.staging-{pid}-abcd"), live, *others]:
        write_folder(folder, {"f": "x"})
    recover(out)
    assert contents(out) == {"model.tflite": "current"}
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(["rpi4", live.name, *(o.name for o in others)])


def test_recover_without_a_build_folder_does_nothing(tmp_path):
    assert recover(tmp_path / "build" / "rpi4") == []


def test_cache_leftovers_of_a_killed_stage_are_removed(tmp_path):
    cache = StageCache(tmp_path / "cache")
    entry = cache.build(
        "distill", "k1", lambda workdir: ((workdir / "w.pt").write_text("w"), ({"student": "w.pt"}, Empty()))[1]
    )
    write_folder(tmp_path / "cache" / "export" / ".k2.ab12", {"model.tflite": "half"})
    assert cache.remove_leftovers() == ["removed the unfinished export stage's .k2.ab12"]
    assert not (tmp_path / "cache" / "export" / ".k2.ab12").exists()
    assert cache.lookup("distill", "k1", Empty) == dataclasses.replace(entry, cached=True)  # finished entries stay


def test_shipped_files_are_on_disk_before_the_build_is_swapped_in(tmp_path, monkeypatch):
    out = tmp_path / "build" / "rpi4"
    write_folder(out, {"model.tflite": "previous"})
    src = tmp_path / "model.tflite"
    src.write_text("new model")
    log = record_disk(monkeypatch)
    publish(out, {"model.tflite": src}, {"report.json": {"ok": True}}, {"report.html": "<html></html>"})
    for path in (out / "model.tflite", out / "report.json", out / "report.html", out):
        assert log.on_disk_before(path, out), path
    assert log.folder_synced_after(out.parent, out)


def test_a_restored_build_is_on_disk(tmp_path, monkeypatch):
    out = tmp_path / "build" / "rpi4"
    write_folder(out.with_name(f".rpi4.old-{dead_pid()}-0"), {"model.tflite": "previous"})
    log = record_disk(monkeypatch)
    recover(out)
    assert log.folder_synced_after(out.parent, out)
