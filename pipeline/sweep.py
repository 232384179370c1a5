"""Temperature x alpha sweep of the teacher -> student link on the validation split.

Each point is a cached distill stage, so a sweep can be extended or rerun cheaply and the best
point's student is already in the cache when `build` runs with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from edgedistill.errors import ConfigError
from edgedistill.fsutil import write_text
from edgedistill.pipeline.config import ProjectConfig, config_from_dict
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.distill.teacher import load_teacher
from edgedistill.pipeline.stages.base import run_stage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.store.cache import StageCache, locked_cache
from edgedistill.pipeline.tasks import get_task
from edgedistill.progress import Progress


@dataclass(frozen=True)
class SweepResult:
    points: list[dict[str, Any]]  # temperature, alpha, val_accuracy, best_epoch, cached

    @property
    def best(self) -> dict[str, Any]:
        """Highest validation accuracy; ties go to the earlier point (lower temperature, then lower alpha)."""
        return max(self.points, key=lambda p: p["val_accuracy"])

    def to_dict(self) -> dict[str, Any]:
        return {"split": "val", "metric": "student top-1 accuracy %", "points": self.points, "best": self.best}


def sweep(
    config: ProjectConfig, temperatures: list[float], alphas: list[float], cache_dir: Path, progress: Progress
) -> SweepResult:
    with locked_cache(cache_dir) as (cache, _):
        return _sweep(config, temperatures, alphas, cache, progress)


def _sweep(
    config: ProjectConfig, temperatures: list[float], alphas: list[float], cache: StageCache, progress: Progress
) -> SweepResult:
    data = load_data(config.data, cache.root / "data", progress)
    teacher = load_teacher(config.teacher, data, progress, get_task(config.task))
    base = config.distillation.link()
    points = []
    for t in sorted(set(temperatures)):
        for a in sorted(set(alphas)):
            recipe = base.model_copy(update={"temperature": t, "alpha": a})
            out = run_stage(
                DistillStage(data, teacher, config.student, recipe, progress, label=f"T={t:g} alpha={a:g}"), cache
            )
            points.append(
                {
                    "temperature": t,
                    "alpha": a,
                    "val_accuracy": out.result.val_accuracy,
                    "best_epoch": out.result.best_epoch,
                    "cached": out.cached,
                }
            )
    return SweepResult(points)


def print_sweep(result: SweepResult, console: Console) -> None:
    temperatures = sorted({p["temperature"] for p in result.points})
    alphas = sorted({p["alpha"] for p in result.points})
    acc = {(p["temperature"], p["alpha"]): p["val_accuracy"] for p in result.points}
    best = result.best
    table = Table(title="validation accuracy % of the student (rows: temperature, columns: alpha)")
    table.add_column("T", justify="right")
    for a in alphas:
        table.add_column(f"alpha {a:g}", justify="right")
    for t in temperatures:
        cells = []
        for a in alphas:
            mark = " *" if (t, a) == (best["temperature"], best["alpha"]) else ""
            cells.append(f"{acc[(t, a)]:.2f}{mark}")
        table.add_row(f"{t:g}", *cells)
    console.print(table)
    console.print(
        f"best: temperature {best['temperature']:g}, alpha {best['alpha']:g} ({best['val_accuracy']:.2f}% on the validation split)"
    )


_SECTION = re.compile(r"^distillation:[ \t]*(#.*)?$", re.MULTILINE)


def write_best(config_path: Path, temperature: float, alpha: float) -> None:
    """Set distillation.temperature and .alpha in the YAML file, keeping its comments and layout."""
    text = config_path.read_text(encoding="utf-8")
    match = _SECTION.search(text)
    if match is None:
        if re.search(r"^distillation:", text, re.MULTILINE):
            raise ConfigError(
                f"{config_path}: write the distillation section as a block (one key per line) to use --write-best"
            )
        text = text.rstrip("\n") + f"\n\ndistillation:\n  temperature: {temperature:g}\n  alpha: {alpha:g}\n"
    else:
        start = match.end()
        nxt = re.search(r"^\S", text[start + 1 :], re.MULTILINE)
        end = start + 1 + nxt.start() if nxt else len(text)
        section = text[start:end]
        for key, value in (("temperature", temperature), ("alpha", alpha)):
            pattern = re.compile(rf"^([ \t]+){key}:[ \t]*[^#\n]*?([ \t]*#.*)?$", re.MULTILINE)
            if pattern.search(section):
                section = pattern.sub(
                    lambda m, v=value, k=key: f"{m.group(1)}{k}: {v:g}{m.group(2) or ''}", section, count=1
                )
            else:
                indent = re.search(r"^([ \t]+)\S", section, re.MULTILINE)
                section = f"\n{indent.group(1) if indent else '  '}{key}: {value:g}" + section
        text = text[:start] + section + text[end:]
    written = (yaml.safe_load(text) or {}).get("distillation") or {}
    if written.get("temperature") != temperature or written.get("alpha") != alpha:
        raise ConfigError(
            f"{config_path}: could not set distillation.temperature/alpha in this layout; set them by hand"
        )
    config_from_dict(yaml.safe_load(text), str(config_path), config_path.resolve().parent)  # still a valid config
    write_text(config_path, text)
