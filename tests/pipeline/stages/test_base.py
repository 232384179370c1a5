from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edgedistill.pipeline.distill.world import World
from edgedistill.pipeline.stages.base import STAGES, Stage, run_stage
from edgedistill.pipeline.store import versions
from edgedistill.pipeline.store.cache import StageCache
from tests.conftest import run_ranks


class Made(BaseModel):
    made_by: int


@dataclass
class RankStage(Stage[Made]):
    """A training-like stage: it runs on every rank; the entry is rank 0's output."""

    name = "ranked"
    output_type = Made
    distributed = True
    world: World

    def cache_inputs(self) -> dict[str, Any]:
        return {"what": "ranked"}

    def run(self, workdir: Path) -> tuple[dict[str, str], Made]:
        (workdir / "out.txt").write_text(f"made by rank {self.world.rank}")
        return {"out": "out.txt"}, Made(made_by=self.world.rank)


def _build_as_rank(world: World, roots: list[str], report: Path) -> None:
    cache = StageCache(Path(roots[world.rank]))
    first = run_stage(RankStage(world), cache)
    again = run_stage(RankStage(world), cache)  # cached on rank 0 now
    seen = {
        "text": first.path("out").read_text(),
        "result": first.result.model_dump(),
        "again": again.path("out").read_text(),
        "leftovers": sorted(p.name for p in (cache.root / "ranked").iterdir()),
    }
    (report / f"rank{world.rank}.json").write_text(json.dumps(seen))


def _views(report: Path) -> list[dict]:
    return [json.loads((report / f"rank{r}.json").read_text()) for r in range(2)]


def test_ranks_on_one_machine_read_rank_0s_entry(tmp_path):
    root = str(tmp_path / "cache")
    run_ranks(_build_as_rank, [root, root], tmp_path)
    for view in _views(tmp_path):
        assert view["text"] == view["again"] == "made by rank 0" and view["result"] == {"made_by": 0}
        assert len(view["leftovers"]) == 1  # one entry, no work or incoming folders


def test_a_rank_on_another_machine_receives_rank_0s_entry_into_its_own_cache(tmp_path):
    """torchrun --nnodes 2: each machine's cache is its own; rank 1's gets rank 0's entry, checked."""
    roots = [str(tmp_path / "machine0"), str(tmp_path / "machine1")]
    run_ranks(_build_as_rank, roots, tmp_path)
    for view in _views(tmp_path):
        assert view["text"] == view["again"] == "made by rank 0" and view["result"] == {"made_by": 0}
        assert len(view["leftovers"]) == 1
    entry = next((tmp_path / "machine1" / "ranked").iterdir())
    assert StageCache(tmp_path / "machine1").lookup("ranked", entry.name, Made) is not None  # hashes match its record


@dataclass
class ToolStage(Stage[Made]):
    name = "tooled"
    output_type = Made
    tools = ("onnxruntime",)
    runs: list[str]

    def cache_inputs(self) -> dict[str, Any]:
        return {}

    def run(self, workdir: Path) -> tuple[dict[str, str], Made]:
        self.runs.append(versions.installed_version("onnxruntime"))
        (workdir / "out.txt").write_text("made")
        return {"out": "out.txt"}, Made(made_by=0)


def test_a_stage_runs_again_when_a_tool_it_declares_is_upgraded_not_another_package(tmp_path, monkeypatch):
    installed = {"onnxruntime": "1.32.0", "torch": "2.13.0"}
    monkeypatch.setattr(versions, "installed_version", installed.__getitem__)
    cache, runs = StageCache(tmp_path), []
    run_stage(ToolStage(runs), cache)
    installed["torch"] = "2.14.0"
    assert run_stage(ToolStage(runs), cache).cached
    installed["onnxruntime"] = "1.33.0"
    assert not run_stage(ToolStage(runs), cache).cached and runs == ["1.32.0", "1.33.0"]


def test_every_stage_names_installed_distributions_as_its_tools():
    """A misspelt tool would read "absent" forever: its upgrades would never rebuild anything."""
    named = {name: cls.tools for name, cls in STAGES.items()}
    assert all(named.values()), named
    tools = {tool for declared in named.values() for tool in declared}
    assert {tool for tool in tools if versions.installed_version(tool) == versions.ABSENT} == set()
