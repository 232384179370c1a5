"""One ordered log of fsync and rename calls, to check that a file is on disk before the rename that publishes it.

A file is named in the log by its (device, inode), which a rename keeps: the log can say that what is now
dest was fsynced, under whatever temporary name it had then, before the rename onto dest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class DiskLog:
    events: list[tuple[str, object]] = field(default_factory=list)

    def synced(self, path: Path) -> list[int]:
        """Where in the log path's file or folder (as it is now) was fsynced."""
        st = os.stat(path)
        return [i for i, event in enumerate(self.events) if event == ("fsync", (st.st_dev, st.st_ino))]

    def renamed_onto(self, dest: Path) -> int:
        """Where in the log the (last) rename onto dest was."""
        found = [i for i, event in enumerate(self.events) if event == ("rename", os.path.abspath(dest))]
        assert found, f"nothing was renamed onto {dest}"
        return found[-1]

    def on_disk_before(self, path: Path, dest: Path) -> bool:
        """path was fsynced before the rename onto dest."""
        return any(i < self.renamed_onto(dest) for i in self.synced(path))

    def folder_synced_after(self, folder: Path, dest: Path) -> bool:
        """folder (holding dest) was fsynced after the rename onto dest: the rename itself is on disk."""
        return any(i > self.renamed_onto(dest) for i in self.synced(folder))


def record_disk(monkeypatch: pytest.MonkeyPatch) -> DiskLog:
    """Log every os.fsync, os.replace and os.rename from now on (each still done)."""
    log = DiskLog()
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        log.events.append(("fsync", (st.st_dev, st.st_ino)))
        real_fsync(fd)

    def renamer(real):
        def rename(src, dst, **kwargs) -> None:
            real(src, dst, **kwargs)
            log.events.append(("rename", os.path.abspath(dst)))

        return rename

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", renamer(real_replace))
    monkeypatch.setattr(os, "rename", renamer(real_rename))
    return log
