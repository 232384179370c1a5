"""What every stage is: named, versioned, keyed by its inputs, producing files plus metadata."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from edgedistill.pipeline.store.cache import StageCache, StageOutput

STAGES: dict[str, type[Stage]] = {}

S = TypeVar("S", bound=type["Stage"])


def register_stage(cls: S) -> S:
    if cls.name in STAGES:
        raise ValueError(f"stage {cls.name!r} registered twice")
    STAGES[cls.name] = cls
    return cls


class Stage(ABC):
    name: ClassVar[str]
    version: ClassVar[int] = 1  # bump when a change to the stage's code changes its outputs

    @abstractmethod
    def cache_inputs(self) -> dict[str, Any]:
        """JSON-able identity of everything the output depends on: config slice and input fingerprints."""

    @abstractmethod
    def run(self, workdir: Path) -> tuple[dict[str, str], dict[str, Any]]:
        """Write output files into workdir; return ({logical name: file name}, metadata)."""


def run_stage(stage: Stage, cache: StageCache) -> StageOutput:
    key = StageCache.key(stage.name, stage.version, stage.cache_inputs())
    return cache.lookup(stage.name, key) or cache.build(stage.name, key, stage.run)
