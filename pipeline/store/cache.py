"""Content-addressed stage cache: outputs are stored under a hash of (stage, its config, its inputs).

An entry is a folder <root>/<stage>/<key>/ holding the stage's files and record.json (file sha256s
and the stage's typed result, `edgedistill.contracts`). It is built in a work folder beside it (.<key>.work) and renamed into place,
so a killed build leaves no entry behind; training checkpoints in the work folder's resume/ survive
the kill, and the next run picks up from them. An entry whose files no longer match their hashes is
rebuilt. Its files and folder are fsynced before that rename and the stage's folder after it: a power cut
leaves the whole entry or none, never an empty file under a valid record.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from edgedistill.contracts import RECORD_FORMAT
from edgedistill.errors import EdgeDistillError
from edgedistill.fsutil import fsync_dir, fsync_tree, sha256_file, sha256_json
from edgedistill.pipeline.store.lock import build_lock
from edgedistill.pipeline.store.versions import tool_versions

RECORD = "record.json"
RESUME = "resume"  # inside a stage's work folder: checkpoints that survive a killed or failed run
SCRATCH = "scratch"  # inside a stage's work folder: large intermediate files (teacher outputs), never cached
WORK_SUFFIX = ".work"


R = TypeVar("R", bound=BaseModel)
R_co = TypeVar("R_co", bound=BaseModel, covariant=True)


@dataclass(frozen=True)
class StageOutput(Generic[R_co]):
    stage: str
    key: str
    folder: Path
    files: dict[str, str]  # logical name -> file name in folder
    sha256: dict[str, str]  # logical name -> sha256 of the file
    result: R_co  # the stage's numbers, typed by the stage (edgedistill.contracts)
    cached: bool
    seconds: float

    def path(self, name: str) -> Path:
        return self.folder / self.files[name]

    def fingerprint(self) -> str:
        """Identity of this output's content, for the cache keys of stages downstream."""
        return sha256_json({"files": self.sha256, "result": self.result.model_dump(mode="json")})


class StageCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(
        stage: str,
        version: int,
        inputs: dict[str, Any],
        result_type: type[BaseModel] | None = None,
        tools: tuple[str, ...] = (),
    ) -> str:
        """The entry's key. It changes with the record format and with the shape of the stage's result type,
        so an entry written in an older one is never looked up: it is rebuilt, not misread; and with the
        installed version of each of `tools` (distribution names), so an upgraded converter or runtime rebuilds."""
        shape = sha256_json(_shape(result_type.model_json_schema())) if result_type is not None else None
        return sha256_json(
            {
                "stage": stage,
                "version": version,
                "record": RECORD_FORMAT,
                "result": shape,
                "tools": tool_versions(tools),
                "inputs": inputs,
            }
        )[:24]

    def lookup(self, stage: str, key: str, result_type: type[R]) -> StageOutput[R] | None:
        """The entry, checked: its files against their hashes and its result against its type; an entry that
        fails either is removed (the stage runs again)."""
        folder = self.root / stage / key
        try:
            record = json.loads((folder / RECORD).read_text())
        except (OSError, ValueError):
            return None
        try:
            intact = record["format"] == RECORD_FORMAT and all(
                (folder / filename).is_file() and sha256_file(folder / filename) == record["sha256"][name]
                for name, filename in record["files"].items()
            )
            found = _output(stage, key, folder, record, result_type) if intact else None
        except (KeyError, TypeError, ValidationError):
            found = None
        if found is None:
            shutil.rmtree(folder, ignore_errors=True)  # corrupted or of another format: rebuild it
        return found

    def read(self, stage: str, key: str, result_type: type[R]) -> StageOutput[R]:
        """An entry another process just wrote (a distributed world's rank 0), read without checking or repair."""
        folder = self.root / stage / key
        return _output(stage, key, folder, json.loads((folder / RECORD).read_text()), result_type)

    def has(self, stage: str, key: str) -> bool:
        """Whether this machine's cache holds the entry (an entry is only ever there complete)."""
        return (self.root / stage / key / RECORD).is_file()

    def entry_bytes(self, stage: str, key: str) -> dict[str, bytes]:
        """A finished entry as bytes (its record and its declared files), to hand to a machine without it."""
        folder = self.root / stage / key
        record = json.loads((folder / RECORD).read_text())
        return {RECORD: (folder / RECORD).read_bytes()} | {
            f: (folder / f).read_bytes() for f in record["files"].values()
        }

    def receive(self, stage: str, key: str, entry: dict[str, bytes]) -> None:
        """Place an entry made by another machine (a distributed world's rank 0), checked against its record,
        through a folder of this process's own renamed into place; a copy already there (another rank on
        this machine received it first) is kept."""
        record = json.loads(entry[RECORD])
        for name, filename in record["files"].items():
            if hashlib.sha256(entry[filename]).hexdigest() != record["sha256"][name]:
                raise EdgeDistillError(f"{stage} entry {key}: {filename} arrived damaged from rank 0")
        parent = self.root / stage
        parent.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=f".{key}.incoming-", dir=parent))
        try:
            for filename, content in entry.items():
                (incoming / filename).write_bytes(content)
            fsync_tree(incoming)
            with contextlib.suppress(OSError):  # the entry is there already: keep it
                os.rename(incoming, parent / key)
            fsync_dir(parent)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)

    def remove_leftovers(self) -> list[str]:
        """Clear what builds killed mid-stage left: their work folders, except the checkpoints a stage resumes
        from (RESUME). Call it holding the build lock."""
        done = []
        for tmp in sorted(self.root.glob("*/.*")):
            if not tmp.is_dir():
                continue
            if tmp.name.endswith(WORK_SUFFIX) and (tmp / RESUME).is_dir():
                removed = _clear_all_but_resume(tmp)
                if removed:
                    done.append(f"kept the checkpoints of the unfinished {tmp.parent.name} stage, cleared the rest")
                continue
            shutil.rmtree(tmp, ignore_errors=True)
            done.append(f"removed the unfinished {tmp.parent.name} stage's {tmp.name}")
        return done

    def build(self, stage: str, key: str, produce: Callable[[Path], tuple[dict[str, str], R]]) -> StageOutput[R]:
        """Run produce(workdir) -> (files, result) in the entry's work folder and move them into the cache.

        The work folder is the same for every run of this (stage, key): what a killed or failed run kept in
        its RESUME subfolder (training checkpoints) is there for the next run; the rest starts empty."""
        parent = self.root / stage
        parent.mkdir(parents=True, exist_ok=True)
        workdir = parent / f".{key}{WORK_SUFFIX}"
        if workdir.is_dir():
            _clear_all_but_resume(workdir)
        workdir.mkdir(exist_ok=True)
        try:
            start = time.perf_counter()
            files, result = produce(workdir)
            seconds = round(time.perf_counter() - start, 3)
            sha = {name: sha256_file(workdir / filename) for name, filename in files.items()}
            record = {
                "format": RECORD_FORMAT,
                "stage": stage,
                "key": key,
                "files": files,
                "sha256": sha,
                "result": result.model_dump(mode="json"),
                "seconds": seconds,
            }
            (workdir / RECORD).write_text(json.dumps(record, indent=2))
            _drop_scratch(workdir)
            final = parent / key
            if final.exists():
                shutil.rmtree(final)
            fsync_tree(workdir)
            os.replace(workdir, final)
            fsync_dir(parent)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):  # the disk, not the input: say so in one line
                raise EdgeDistillError(
                    f"{parent}: cannot write the stage cache ({exc.strerror}); free space and build again"
                ) from None
            raise
        finally:
            if workdir.is_dir():  # the run failed: keep only what the next one resumes from
                _clear_all_but_resume(workdir)
                if not any(workdir.iterdir()):
                    workdir.rmdir()
        return StageOutput(stage, key, final, files, sha, result, False, seconds)


def _shape(schema: Any) -> Any:
    """A JSON schema without its prose (titles, descriptions): a docstring edit does not rebuild the cache."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("title", "description")}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def _output(stage: str, key: str, folder: Path, record: dict[str, Any], result_type: type[R]) -> StageOutput[R]:
    result = result_type.model_validate(record["result"])
    return StageOutput(stage, key, folder, record["files"], record["sha256"], result, True, record["seconds"])


def _clear_all_but_resume(workdir: Path) -> bool:
    removed = False
    for entry in workdir.iterdir():
        if entry.name == RESUME:
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        removed = True
    return removed


def _drop_scratch(workdir: Path) -> None:
    """A finished entry keeps its declared files, record and logs; checkpoints and scratch files go."""
    for name in (RESUME, SCRATCH):
        shutil.rmtree(workdir / name, ignore_errors=True)


@contextlib.contextmanager
def locked_cache(root: Path) -> Iterator[tuple[StageCache, list[str]]]:
    """The cache held by this process alone (a second build is refused), cleared of what a killed run left
    half-done; yields it with a line for each thing removed."""
    with build_lock(root):
        cache = StageCache(root)
        yield cache, cache.remove_leftovers()
