"""What every stage is: named, versioned, keyed by its inputs, producing files plus a typed result."""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from edgedistill.pipeline.distill.world import current_world
from edgedistill.pipeline.store.cache import StageCache, StageOutput

R = TypeVar("R", bound=BaseModel)

STAGES: dict[str, type[Stage]] = {}

S = TypeVar("S", bound=type["Stage"])


def register_stage(cls: S) -> S:
    if cls.name in STAGES:
        raise ValueError(f"stage {cls.name!r} registered twice")
    STAGES[cls.name] = cls
    return cls


class Stage(ABC, Generic[R]):
    name: ClassVar[str]
    output_type: ClassVar[type[BaseModel]]  # the result it returns (edgedistill.contracts), as R
    version: ClassVar[int] = 1  # bump when a change to the stage's code changes its outputs
    distributed: ClassVar[bool] = False  # trains on every rank of a distributed world (else rank 0 alone)
    # the distributions (importlib.metadata names) whose code makes the output: their versions are in the key
    tools: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def cache_inputs(self) -> dict[str, Any]:
        """JSON-able identity of everything the output depends on: config slice and input fingerprints."""

    @abstractmethod
    def run(self, workdir: Path) -> tuple[dict[str, str], R]:
        """Write output files into workdir; return ({logical name: file name}, its result)."""


def run_stage(stage: Stage[R], cache: StageCache) -> StageOutput[R]:
    """The stage's cached output, else run it and cache it.

    In a distributed world rank 0 alone reads and writes the cache: it tells the others whether the stage is
    cached; a training stage (`distributed`) runs on every rank, each in a scratch folder but rank 0's, and the
    others then read rank 0's entry (sent to them when their machine's cache is not rank 0's). Other stages run
    on rank 0 only."""
    kind: type[R] = stage.output_type  # type: ignore[assignment]  # a ClassVar cannot name R
    key = StageCache.key(stage.name, stage.version, stage.cache_inputs(), kind, stage.tools)
    world = current_world()
    if not world.distributed:
        return cache.lookup(stage.name, key, kind) or cache.build(stage.name, key, stage.run)
    found = cache.lookup(stage.name, key, kind) if world.is_main else None
    if not world.broadcast(found is not None):
        if world.is_main:
            found = cache.build(stage.name, key, stage.run)
        elif stage.distributed:
            with tempfile.TemporaryDirectory(prefix=f"edgedistill-rank{world.rank}-") as scratch:
                stage.run(Path(scratch))
        else:
            raise RuntimeError(f"stage {stage.name} runs on rank 0 only")
    world.barrier()  # rank 0's entry is in its cache now
    # ranks on other machines (torchrun --nnodes) have caches of their own: rank 0 sends them the entry
    missing = world.all_gather(not world.is_main and not cache.has(stage.name, key))
    if any(missing):
        entry = world.broadcast(cache.entry_bytes(stage.name, key) if world.is_main else None)
        if missing[world.rank]:
            cache.receive(stage.name, key, entry)
    return found if found is not None else cache.read(stage.name, key, kind)
