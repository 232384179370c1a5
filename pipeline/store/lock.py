"""One build at a time per stage cache: an advisory lock the kernel releases when the holder dies.

A second `build` (or `sweep`) on the same cache fails at once with one line naming the holder, rather
than two processes writing the same cache entries. A build killed with SIGKILL holds nothing: the
lock goes with its open file, so the next build simply resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from edgedistill.errors import EdgeDistillError

LOCK_FILE = "build.lock"


class LockedError(EdgeDistillError):
    """Another process holds the build lock."""


@contextlib.contextmanager
def build_lock(cache_dir: Path) -> Iterator[None]:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise LockedError(
                f"{cache_dir}: another build is running on this cache ({holder}); wait for it to finish"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
