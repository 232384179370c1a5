from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel, Field

from edgedistill.pipeline.store import cache as cache_module
from edgedistill.pipeline.store import versions
from edgedistill.pipeline.store.cache import StageCache
from tests.edgedistill.disk_log import record_disk


class Length(BaseModel):
    length: int


def _produce(text: str, calls: list):
    def produce(workdir):
        calls.append(text)
        (workdir / "out.txt").write_text(text)
        return {"out": "out.txt"}, Length(length=len(text))

    return produce


def test_second_lookup_hits_and_returns_the_same_output(tmp_path):
    cache, calls = StageCache(tmp_path), []
    key = StageCache.key("s", 1, {"cfg": 1})
    first = cache.lookup("s", key, Length) or cache.build("s", key, _produce("hello", calls))
    second = cache.lookup("s", key, Length)
    assert calls == ["hello"] and not first.cached and second is not None and second.cached
    assert second.path("out").read_text() == "hello" and second.result == Length(length=5)
    assert second.fingerprint() == first.fingerprint()


def test_key_depends_on_stage_version_and_inputs():
    keys = {
        StageCache.key("s", 1, {"a": 1}),
        StageCache.key("s", 2, {"a": 1}),
        StageCache.key("t", 1, {"a": 1}),
        StageCache.key("s", 1, {"a": 2}),
    }
    assert len(keys) == 4
    assert StageCache.key("s", 1, {"a": 1, "b": 2}) == StageCache.key("s", 1, {"b": 2, "a": 1})


class Words(BaseModel):
    length: int
    words: int


def test_a_new_record_format_or_result_shape_keys_every_entry_anew(monkeypatch):
    """Entries written in an older record format, or for an older shape of the stage's result, are never looked
    up, so never misread: they are rebuilt."""
    old = StageCache.key("s", 1, {"a": 1}, Length)
    assert StageCache.key("s", 1, {"a": 1}, Words) != old

    class Described(BaseModel):
        """The same shape as Length, told in other words: its entries are the same entries."""

        length: int = Field(description="characters")

    assert StageCache.key("s", 1, {"a": 1}, Described) == old
    monkeypatch.setattr(cache_module, "RECORD_FORMAT", cache_module.RECORD_FORMAT + 1)
    assert StageCache.key("s", 1, {"a": 1}, Length) != old


def test_an_entry_whose_record_does_not_fit_its_type_is_rebuilt_not_a_traceback(tmp_path):
    cache, calls = StageCache(tmp_path), []
    key = StageCache.key("s", 1, {})
    cache.build("s", key, _produce("hello", calls))
    assert cache.lookup("s", key, Words) is None  # a result without `words`: removed
    assert not (tmp_path / "s" / key).exists()
    rebuilt = cache.build("s", key, _produce("hello", calls))
    assert cache.lookup("s", key, Length) == dataclasses.replace(rebuilt, cached=True) and len(calls) == 2


def test_corrupted_entry_is_detected_and_rebuilt(tmp_path):
    cache, calls = StageCache(tmp_path), []
    key = StageCache.key("s", 1, {})
    out = cache.build("s", key, _produce("good", calls))
    out.path("out").write_text("tampered")
    assert cache.lookup("s", key, Length) is None
    rebuilt = cache.build("s", key, _produce("good", calls))
    assert rebuilt.path("out").read_text() == "good" and len(calls) == 2


def test_failed_stage_leaves_no_entry(tmp_path):
    cache = StageCache(tmp_path)
    key = StageCache.key("s", 1, {})

    def boom(workdir):
        (workdir / "half.txt").write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.build("s", key, boom)
    assert cache.lookup("s", key, Length) is None
    assert list((tmp_path / "s").iterdir()) == []


def test_an_entry_is_on_disk_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    """A power cut just after the rename must not leave an entry whose record names empty files."""
    cache = StageCache(tmp_path)
    key = StageCache.key("s", 1, {})

    def produce(workdir):
        (workdir / "logs").mkdir()
        (workdir / "logs" / "train.log").write_text("epoch 1")
        return _produce("hello", [])(workdir)

    log = record_disk(monkeypatch)
    out = cache.build("s", key, produce)
    for path in (out.path("out"), out.folder / "record.json", out.folder / "logs" / "train.log", out.folder):
        assert log.on_disk_before(path, out.folder), path
    assert log.folder_synced_after(tmp_path / "s", out.folder)


def test_an_entry_from_another_machine_is_on_disk_before_it_is_placed(tmp_path, monkeypatch):
    key = StageCache.key("s", 1, {})
    made = StageCache(tmp_path / "rank0").build("s", key, _produce("hello", []))
    entry = StageCache(tmp_path / "rank0").entry_bytes("s", key)
    log = record_disk(monkeypatch)
    StageCache(tmp_path / "rank1").receive("s", key, entry)
    placed = tmp_path / "rank1" / "s" / key
    for path in (placed / made.files["out"], placed / "record.json", placed):
        assert log.on_disk_before(path, placed), path
    assert log.folder_synced_after(placed.parent, placed)


def test_a_new_version_of_a_declared_tool_keys_the_entry_anew_and_of_another_package_does_not(monkeypatch):
    installed = {"torch": "2.13.0", "onnxruntime": "1.32.0", "numpy": "2.4.6"}
    monkeypatch.setattr(versions, "installed_version", lambda name: installed.get(name, versions.ABSENT))

    def key():
        return StageCache.key("s", 1, {"a": 1}, Length, ("torch", "onnxruntime"))

    old = key()
    installed["numpy"] = "2.5.0"
    assert key() == old  # not a tool of this stage
    installed["onnxruntime"] = "1.33.0"
    upgraded = key()
    assert upgraded != old
    del installed["torch"]
    assert key() != upgraded  # uninstalled: "absent" is a version too
