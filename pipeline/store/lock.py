"""One build at a time per stage cache: a file lock (the `filelock` package: flock on Linux and macOS, the
Windows locking call there) that the system releases when the holder dies.

A second `build` (or `sweep`) on the same cache fails at once with one line naming the holder, rather
than two processes writing the same cache entries. A build killed with SIGKILL holds nothing: the
lock goes with its open file, so the next build simply resumes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from edgedistill.errors import EdgeDistillError

LOCK_FILE = "build.lock"
HOLDER_FILE = "build.lock.holder"  # who holds the lock, for the refusal's message (the lock file itself is the lock's)


class LockedError(EdgeDistillError):
    """Another process holds the build lock."""


@contextlib.contextmanager
def build_lock(cache_dir: Path) -> Iterator[None]:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(cache_dir / LOCK_FILE), timeout=0)
    holder_file = cache_dir / HOLDER_FILE
    try:
        lock.acquire()
    except Timeout:
        holder = _read(holder_file) or "another process"
        raise LockedError(
            f"{cache_dir}: another build is running on this cache ({holder}); wait for it to finish"
        ) from None
    try:
        holder_file.write_text(f"pid {os.getpid()}", encoding="utf-8")
        yield
    finally:
        holder_file.unlink(missing_ok=True)
        lock.release()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
