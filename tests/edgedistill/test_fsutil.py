"""Atomic writes are durable: the file is fsynced before the rename that publishes it, its folder after."""

from __future__ import annotations

import errno
import os

import pytest

from edgedistill import fsutil
from tests.edgedistill.disk_log import record_disk


def _copy(dest, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"model bytes")
    fsutil.copy_file(src, dest)


WRITERS = {
    "write_text": lambda dest, _: fsutil.write_text(dest, "new"),
    "write_json": lambda dest, _: fsutil.write_json(dest, {"new": True}),
    "copy_file": _copy,
    "write_torch": lambda dest, _: fsutil.write_torch(dest, {"w": [1, 2]}),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_written_file_is_on_disk_before_it_replaces_the_old_one(tmp_path, monkeypatch, writer):
    dest = tmp_path / "out" / "artifact"
    dest.parent.mkdir()
    dest.write_text("old")
    log = record_disk(monkeypatch)
    WRITERS[writer](dest, tmp_path)
    assert dest.read_bytes() != b"old"
    assert log.on_disk_before(dest, dest)
    assert log.folder_synced_after(dest.parent, dest)


def test_fsync_tree_syncs_every_file_then_each_folder_below_its_parent(tmp_path, monkeypatch):
    top = tmp_path / "entry"
    (top / "logs").mkdir(parents=True)
    for path in (top / "model.pt", top / "record.json", top / "logs" / "train.log"):
        path.write_text(path.name)
    (top / "link").symlink_to(top / "model.pt")
    log = record_disk(monkeypatch)
    fsutil.fsync_tree(top)
    first = {p: log.synced(p) for p in (top / "model.pt", top / "record.json", top / "logs" / "train.log")}
    assert all(first.values())
    assert max(log.synced(top / "logs" / "train.log")) < min(log.synced(top / "logs")) < min(log.synced(top))
    assert max(max(v) for v in first.values()) < min(log.synced(top))
    assert len(log.events) == 5  # three files, two folders: the link's target is not synced twice


@pytest.mark.skipif(os.name == "nt", reason="folders are not synced on Windows")
def test_fsync_dir_passes_over_a_filesystem_that_cannot_sync_folders_but_not_a_disk_error(tmp_path, monkeypatch):
    def failing(code):
        def fsync(fd):
            raise OSError(code, os.strerror(code))

        return fsync

    monkeypatch.setattr(os, "fsync", failing(errno.EINVAL))
    fsutil.fsync_dir(tmp_path)  # some network filesystems: nothing to wait for
    monkeypatch.setattr(os, "fsync", failing(errno.EIO))
    with pytest.raises(OSError, match="Input/output error"):
        fsutil.fsync_dir(tmp_path)
