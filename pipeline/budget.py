"""Build to a budget: `build --budget latency=15ms,size=1MB,ram=64MB` (any subset).

Candidate students (the config's architecture over widths, input sizes and pruning ratios) are exported as
int8 .tflite with untrained weights: size and kernels do not depend on the weights' values (as long as no
two constants are identical, which the .tflite writer would store once). Each is costed by the target's
latency calibration (or measured on the device when one is given: device in the loop); those over budget
are rejected before any training. The survivors are distilled with a short proxy schedule (cached
stages like every distillation), and the most accurate on validation becomes the student of the full build.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from edgedistill.contracts import BudgetCandidate, BudgetSearch
from edgedistill.errors import EdgeDistillError
from edgedistill.fsutil import sha256_json
from edgedistill.pipeline.config import ProjectConfig, PruneConfig, StudentConfig

DEFAULT_FINETUNE_EPOCHS = 5
MIN_SIDE = 12
PROXY_EPOCH_FRACTION = 4  # the proxy schedule trains a quarter of the recipe's epochs (at least one)
# an estimate must clear the latency budget by its calibration's margin (from its held-out error); a calibration
# without a held-out error gets this one; a latency measured on the device needs no margin
DEFAULT_MARGIN = 0.10
LARGEST_PER_SIDE = 2  # the proxy trains, at each input size, the largest candidates within budget
CANDIDATE_VERSION = 2  # bump when the candidates' export changes: their files are reused across builds

_UNITS = {
    "latency": {"us": 1e-3, "ms": 1.0, "s": 1e3},
    "size": {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024, "mib": 1024**2, "gib": 1024**3},
}
_UNITS["ram"] = _UNITS["size"]


@dataclass(frozen=True)
class Budget:
    latency_ms: float | None = None
    size_bytes: float | None = None
    ram_bytes: float | None = None

    def limits(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        parts = []
        if self.latency_ms is not None:
            parts.append(f"latency {self.latency_ms:g} ms")
        if self.size_bytes is not None:
            parts.append(f"size {self.size_bytes / 1e6:g} MB")
        if self.ram_bytes is not None:
            parts.append(f"RAM {self.ram_bytes / 1e6:g} MB")
        return ", ".join(parts)


def parse_budget(text: str) -> Budget:
    """'latency=15ms,size=1MB,ram=64MB' (any subset; KB/MB are 1000-based, KiB/MiB 1024-based)."""
    values: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in _UNITS:
            raise EdgeDistillError(
                f"--budget: {item!r}: expected KEY=VALUE with KEY one of latency, size, ram (e.g. latency=15ms,size=1MB)"
            )
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zA-Z]+)\s*", value)
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _UNITS[key]:
            units = ", ".join(_UNITS[key])
            raise EdgeDistillError(f"--budget: {key}={value!r}: expected a number and a unit ({units})")
        if key in values:
            raise EdgeDistillError(f"--budget: {key} given twice")
        amount = float(match.group(1)) * _UNITS[key][unit]
        if amount <= 0:
            raise EdgeDistillError(f"--budget: {key}={value!r}: must be above zero")
        values[key] = amount
    return Budget(values.get("latency"), values.get("size"), values.get("ram"))


class Candidate(BudgetCandidate):
    """A costed candidate, as the search builds it."""

    def student(self, base: StudentConfig) -> StudentConfig:
        return base.model_copy(update={"width": self.width, "input_size": self.input_size})

    def prune(self, finetune_epochs: int) -> PruneConfig | None:
        """Uniform structured pruning at this ratio (the channel counts then follow from the ratio alone)."""
        return PruneConfig(ratio=self.prune_ratio, finetune_epochs=finetune_epochs) if self.prune_ratio else None


def propose(config: ProjectConfig, data_side: int) -> list[tuple[float, int, float]]:
    """(width, input size, pruning ratio) around the config's student (config.search): every width at the student's
    side and smaller ones, and the wider students pruned too (pruning a wide student often keeps more accuracy
    than training a narrow one)."""
    space = config.search
    base_side = config.student.input_size or data_side
    scaled = {max(MIN_SIDE, round(base_side * f / 4) * 4) for f in space.input_scales}
    sides = sorted(scaled | {base_side}, reverse=True)
    ratios = {w: (0.0, *space.prune_ratios) if w >= space.pruned_from_width else (0.0,) for w in space.widths}
    return [(w, s, r) for s in sides for w in space.widths for r in ratios[w]]


def _ram_estimate(tflite: Path) -> int:
    """Weights plus the two largest activations any op holds at once (an arena lower bound), in bytes."""
    from edgedistill.benchmarks.latency.kernels import model_kernels

    kernels = model_kernels(tflite)
    weights = sum(k.weight_bytes for k in kernels)
    return weights + max((k.in_bytes + k.out_bytes for k in kernels), default=0)


def _as_if_trained(model):
    """Distinct BatchNorm statistics and biases, as training leaves them: an untrained model's all-zero biases
    are identical constants that the .tflite writer stores once, which would make it smaller than the trained
    student it stands for."""
    import torch
    from torch import nn

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            elif getattr(m, "bias", None) is not None and isinstance(m.bias, torch.Tensor):
                m.bias.uniform_(-0.5, 0.5)
    return model


def cost_candidates(
    config: ProjectConfig,
    shape: tuple[int, int, int],
    num_classes: int,
    budget: Budget,
    folder: Path,
    latency: Callable[[list[Path]], tuple[list[float], str]],
    advance: Callable[..., None] = lambda *a, **k: None,
    margin: float = DEFAULT_MARGIN,
) -> list[Candidate]:
    """Export every proposed student (int8, untrained) into folder, cost it, and mark what it is over budget."""
    import torch

    from edgedistill.export.tflite_export import export_tflite_int8
    from edgedistill.students import build_student

    c, h, _ = shape
    folder.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, float, int, float, int, Path]] = []
    for width, side, ratio in propose(config, h):
        name = f"{config.student.name}_w{width:g}_{side}" + (f"_pruned{ratio:g}" if ratio else "")
        spec = [CANDIDATE_VERSION, config.student.name, config.student.options, width, side, ratio, c, num_classes]
        path = folder / f"{name}.{sha256_json(spec)[:12]}.tflite"  # reused by later builds while all of it holds
        torch.manual_seed(0)
        kwargs = dict(num_classes=num_classes, in_channels=c, input_size=side, width=width)
        model = _as_if_trained(build_student(config.student.name, options=config.student.options, **kwargs).eval())
        if ratio:
            from edgedistill.pipeline.pruning import pruned_copy

            model = pruned_copy(model, torch.zeros(1, c, side, side), PruneConfig(ratio=ratio), ratio).eval()
        if not path.is_file():
            export_tflite_int8(model, (c, side, side), [torch.randn(1, c, side, side) for _ in range(4)], path)
        made.append((name, width, side, ratio, sum(p.numel() for p in model.parameters()), path))
        advance()
    latencies, source = latency([m[-1] for m in made])
    candidates = []
    for (name, width, side, ratio, params, path), ms in zip(made, latencies):
        size, ram = path.stat().st_size, _ram_estimate(path)
        candidate = Candidate(
            name=name,
            width=width,
            input_size=side,
            prune_ratio=ratio,
            params=params,
            latency_ms=round(ms, 4),
            size_bytes=size,
            ram_bytes=ram,
            latency_source=source,
        )
        measured = {
            "latency_ms": candidate.latency_ms * (1 + margin if source == "estimate" else 1),
            "size_bytes": candidate.size_bytes,
            "ram_bytes": candidate.ram_bytes,
        }
        candidate.over = {
            k: round(measured[k] / limit - 1, 4) for k, limit in budget.limits().items() if measured[k] > limit
        }
        candidates.append(candidate)
    return candidates


def to_train(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates within budget worth a proxy distillation: at each input size, the LARGEST_PER_SIDE largest
    (by latency, then size: a smaller student of the same input size is rarely more accurate). The others are
    marked why not."""
    chosen = []
    for side in sorted({c.input_size for c in candidates}, reverse=True):
        fitting = sorted(
            (c for c in candidates if c.fits and c.input_size == side),
            key=lambda c: (-c.latency_ms, -c.size_bytes, c.prune_ratio),
        )
        chosen += fitting[:LARGEST_PER_SIDE]
        for c in fitting[LARGEST_PER_SIDE:]:
            c.not_trained = f"a larger student at {side}x{side} fits the budget"
    return chosen


def closest(candidates: list[Candidate]) -> Candidate:
    """The candidate that misses the budget by the least (its worst overshoot)."""
    return min(candidates, key=lambda c: (max(c.over.values(), default=0), c.latency_ms))


def no_fit_error(budget: Budget, candidates: list[Candidate], margin: float = DEFAULT_MARGIN) -> EdgeDistillError:
    best = closest(candidates)
    misses = ", ".join(f"{k.removesuffix('_bytes').removesuffix('_ms')} {v:+.0%}" for k, v in best.over.items())
    if "latency_ms" in best.over and best.latency_source == "estimate":
        misses += f" (the estimate with its {margin:.0%} margin)"
    return EdgeDistillError(
        f"--budget {budget.describe()}: none of {len(candidates)} candidate students fits; the closest is "
        f"{best.name} ({best.latency_ms:.3f} ms, {best.size_bytes / 1e6:.3f} MB, ~{best.ram_bytes / 1e6:.2f} MB "
        f"RAM: over by {misses})"
    )


def choose(candidates: list[Candidate]) -> Candidate:
    """The most accurate survivor on validation; on a tie the faster one."""
    survivors = [c for c in candidates if c.fits and c.val_accuracy is not None]
    best = max(survivors, key=lambda c: (c.val_accuracy, -c.latency_ms))
    best.chosen = True
    return best


def proxy_epochs(config: ProjectConfig) -> int:
    return max(1, math.ceil(config.distillation.epochs / PROXY_EPOCH_FRACTION))


@dataclass(frozen=True)
class LatencyCosting:
    """How candidates' latency is known (measure: model paths -> (ms each, "estimate" | "device" | "none")), and
    the margin an estimate carries, with where it comes from."""

    measure: Callable[[list[Path]], tuple[list[float], str]]
    how: str
    margin: float = 0.0
    margin_source: str = ""


def search_record(budget: Budget, candidates: list[Candidate], costing: LatencyCosting) -> BudgetSearch:
    estimated = any(c.latency_source == "estimate" for c in candidates)
    return BudgetSearch(
        budget=budget.limits(),
        costed_by=costing.how,
        latency_margin=costing.margin if estimated else 0.0,
        latency_margin_source=costing.margin_source if estimated else "",
        candidates=list(candidates),
        chosen=next(c.name for c in candidates if c.chosen),
    )


def search(
    config: ProjectConfig,
    budget: Budget,
    target,
    cache,
    progress,
    *,
    calibration_path: Path | None = None,
    device=None,
) -> tuple[ProjectConfig, BudgetSearch]:
    """Cost the candidates, reject those over budget, distil the survivors briefly, and return the config
    with the most accurate survivor as its student, and the search's record for the report."""
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.distill.teacher import load_teacher
    from edgedistill.pipeline.stages.base import run_stage
    from edgedistill.pipeline.stages.distill import DistillStage
    from edgedistill.pipeline.stages.prune import PruneStage
    from edgedistill.pipeline.tasks import get_task

    task = get_task(config.task)
    costing = _latency_source(budget, target, config, calibration_path, device)  # a bad calibration fails first
    if costing.margin:
        progress.console.print(f"budget: estimates carry a {costing.margin:+.1%} margin ({costing.margin_source})")
    data = load_data(config.data, cache.root / "data", progress)
    h, w, c = data.image_shape
    folder = cache.root / "budget" / "candidates"
    with progress.task("costing candidate students", total=len(propose(config, h))) as advance:
        candidates = cost_candidates(
            config, (c, h, w), data.num_classes, budget, folder, costing.measure, advance, costing.margin
        )
    if not any(cand.fits for cand in candidates):
        raise no_fit_error(budget, candidates, costing.margin)
    survivors = to_train(candidates)
    teacher = load_teacher(config.teacher, data, progress, task)
    recipe = config.distillation.link().model_copy(update={"epochs": proxy_epochs(config)})
    for cand in survivors:
        out = run_stage(
            DistillStage(data, teacher, cand.student(config.student), recipe, progress, label=f"proxy {cand.name}"),
            cache,
        )
        prune = cand.prune(finetune_epochs=recipe.epochs)
        if prune is not None:  # the proxy prunes the proxy-distilled student and fine-tunes it as briefly
            out = run_stage(PruneStage(data, teacher, out, prune, recipe, progress), cache)
        cand.val_accuracy, cand.proxy_epochs = task.search_score(out.result), recipe.epochs
    best = choose(candidates)
    finetune = config.prune.finetune_epochs if config.prune is not None else DEFAULT_FINETUNE_EPOCHS
    # the search owns structured pruning: the config's own prune settings give way to the chosen ratio
    chosen = config.model_copy(update={"student": best.student(config.student), "prune": best.prune(finetune)})
    return chosen, search_record(budget, candidates, costing)


def _latency_source(
    budget: Budget, target, config: ProjectConfig, calibration_path: Path | None, device
) -> LatencyCosting:
    """How candidates' latency is known: measured on the device (when given), else the calibration's estimate,
    with the margin from the calibration's held-out error."""
    from edgedistill.benchmarks.latency.estimate import estimate
    from edgedistill.benchmarks.latency.predictor import COVERAGE
    from edgedistill.pipeline.latency_estimates import build_calibration

    if device is not None:
        from edgedistill.benchmarks.harness import median_ms, run_benchmarks
        from edgedistill.devices.connect import open_transport

        def measured(paths: list[Path]) -> tuple[list[float], str]:
            with open_transport(device.device, ssh_config=device.ssh_config, python=device.python) as transport:
                results = run_benchmarks(transport, paths, threads=target.threads, runs=30, warmup=5)
            return [median_ms(r) for r in results], "device"

        return LatencyCosting(measured, f"measured on {device.device} ({target.threads} threads)")
    if budget.latency_ms is None:
        return LatencyCosting(lambda paths: ([0.0] * len(paths), "none"), "no latency budget: not costed")
    calibration, path = build_calibration(target, config.benchmark, calibration_path)

    def estimated(paths: list[Path]) -> tuple[list[float], str]:
        return [estimate(p, calibration).total_ms for p in paths], "estimate"

    how = f"estimated by {path} ({calibration.device}, {calibration.threads} threads, {calibration.date})"
    held = calibration.held_out
    if held is None:
        return LatencyCosting(estimated, how, DEFAULT_MARGIN, f"a default: {path} holds no held-out error")
    summary = held.summary()
    source = (
        f"{path}'s held-out error: measured within the estimate plus this margin for {COVERAGE:.0%} of "
        f"{len(held.errors)} models ({held.source}; median {summary['median']:+.1%}, worst {summary['worst']:+.1%})"
    )
    return LatencyCosting(estimated, how, held.margin(), source)
