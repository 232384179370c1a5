"""Shipping build/<target>/: assembled in a hidden staging folder beside it, then swapped into place.

A reader of build/<target>/ sees the previous build or the new one, never a mix or a partial file; every
shipped file and the staging folder are fsynced before the swap and build/ after it, so a power cut does too.
A build killed mid-swap leaves hidden folders named after its pid: `recover` (run by the next build)
puts the previous build back if the kill came between the two renames, and removes what the dead
process left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from edgedistill.errors import EdgeDistillError
from edgedistill.fsutil import copy_file, fsync_dir, write_json, write_text

STAGING = "staging"
OLD = "old"


def publish(out_dir: Path, files: dict[str, Path], documents: dict[str, dict], pages: dict[str, str]) -> None:
    """Write build/<target>/: files copied, documents as JSON, pages as text; all of it or nothing."""
    try:
        _swap_in(Path(out_dir), files, documents, pages)
    except OSError as exc:  # a full disk, a read-only folder: the previous build (if any) stays as it was
        raise EdgeDistillError(
            f"{out_dir}: cannot write the build ({exc.strerror or exc}); nothing was changed there"
        ) from None


def _leftover(out_dir: Path, kind: str) -> str:
    return f".{out_dir.name}.{kind}-{os.getpid()}-"


def _swap_in(out_dir: Path, files: dict[str, Path], documents: dict[str, dict], pages: dict[str, str]) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_leftover(out_dir, STAGING), dir=out_dir.parent))
    try:
        for name, src in files.items():
            copy_file(src, staging / name)
        for name, doc in documents.items():
            write_json(staging / name, doc)
        for name, text in pages.items():
            write_text(staging / name, text)
        os.chmod(staging, 0o755)
        fsync_dir(staging)  # its files were each synced as written; its mode was set since
        old = None
        if out_dir.exists():
            old = out_dir.with_name(_leftover(out_dir, OLD) + "0")
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        fsync_dir(out_dir.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and another user's
    return True


def recover(out_dir: Path) -> list[str]:
    """Clean up after builds of out_dir that were killed while publishing; returns what was done."""
    out_dir = Path(out_dir)
    if not out_dir.parent.is_dir():
        return []
    done = []
    prefix = f".{out_dir.name}."
    for path in sorted(out_dir.parent.glob(prefix + "*")):
        kind, _, rest = path.name[len(prefix) :].partition("-")
        pid = rest.partition("-")[0]
        if kind not in (STAGING, OLD) or not pid.isdigit() or _pid_alive(int(pid)):
            continue  # not ours, or its build is still running
        if kind == OLD and not out_dir.exists():
            os.replace(path, out_dir)  # killed between the two renames: the previous build comes back
            fsync_dir(out_dir.parent)
            done.append(f"restored the previous build from {path.name}")
        else:
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path.name}")
    return done
