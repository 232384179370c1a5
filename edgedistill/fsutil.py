"""Atomic, durable file writes and content hashes: build/ never holds a half-written file.

A file counts once it is on disk: it is fsynced before the rename that publishes it, and its folder after
(so the rename itself survives a power cut). `fsync_tree` does the same for a folder renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# a folder fsync the filesystem does not support (some network and FUSE mounts): nothing to wait for
_NO_DIR_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES, errno.EPERM, errno.EISDIR})
# Windows flushes a file only through a handle that may write to it
_SYNC_FLAGS = os.O_RDWR | getattr(os, "O_BINARY", 0) if os.name == "nt" else os.O_RDONLY


def fsync_file(path: Path) -> None:
    """Wait until path's bytes are on disk (however it was written: by us, by torch, by a converter)."""
    fd = os.open(path, _SYNC_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Wait until folder path's entries (a rename into it, a new file) are on disk; a no-op where the platform
    cannot open or sync a folder (Windows, some network filesystems)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in _NO_DIR_SYNC:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_SYNC:
            raise
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Every file under folder, then every folder bottom-up, on disk: call it before renaming folder into place."""
    for parent, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            if not os.path.islink(os.path.join(parent, name)):
                fsync_file(Path(parent, name))
        fsync_dir(Path(parent))


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path in dest's folder; if the block succeeds, fsync it, rename it onto dest, fsync the
    folder: dest is then the new file, on disk, or (after a crash at any point) the old one."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; artifacts are ordinary files
    try:
        yield tmp_path
        fsync_file(tmp_path)
        os.replace(tmp_path, dest)
        fsync_dir(dest.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(dest: Path, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(dest: Path, data: Any) -> None:
    write_text(dest, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def copy_file(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def write_torch(dest: Path, obj: Any) -> None:
    """torch.save(obj) to dest, atomically, through memory: torch's own file writer turns a full disk into an
    'iostream error'; a plain write makes it the OSError (ENOSPC) the caller reports in one line."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(buffer.getvalue())
