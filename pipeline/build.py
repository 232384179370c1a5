"""Orchestration: config -> data + teacher -> baseline + distill chain -> export -> verify -> benchmark -> report.

Every stage is cached; build/<target>/ is assembled in a temporary folder and swapped into place
only when every stage has passed (pipeline/store/publish.py), so it never holds a partial or failed build.
A build killed at any point resumes: finished stages come from the cache, the rest run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from edgedistill.contracts import (
    BudgetSearch,
    Int8Choice,
    Manifest,
    Report,
    ShippedFile,
    StageTiming,
    SynthesizedData,
)
from edgedistill.devices.profiles import DeviceProfile
from edgedistill.pipeline.budget import Budget
from edgedistill.pipeline.budget import search as search_budget
from edgedistill.pipeline.config import DistillationConfig, ProjectConfig, SyntheticConfig
from edgedistill.pipeline.data.bundle import DataBundle, load_data
from edgedistill.pipeline.data.synthetic import synthetic_bundle
from edgedistill.pipeline.device_benchmark import DeviceSpec, measure_on_device, resolve_target
from edgedistill.pipeline.distill.teacher import Teacher, load_teacher
from edgedistill.pipeline.distill.world import current_world, leave_world
from edgedistill.pipeline.distill_chain import distill
from edgedistill.pipeline.latency_estimates import estimate_artifacts
from edgedistill.pipeline.report.assemble import assemble_report
from edgedistill.pipeline.report.html import PICTURES, REPORT_HTML, SYNTHESIZED_PNG, render_html
from edgedistill.pipeline.report.manifest import build_manifest, recommend
from edgedistill.pipeline.stages.base import Stage, run_stage
from edgedistill.pipeline.stages.benchmark import HostBenchmarkStage
from edgedistill.pipeline.stages.export import ExportStage
from edgedistill.pipeline.stages.prune import PruneStage
from edgedistill.pipeline.stages.qat import QAT_STATE, Int8ChoiceStage, QATStage, ptq_shipped, ptq_verdict
from edgedistill.pipeline.stages.synthesize import SynthesizeStage, check_invertible
from edgedistill.pipeline.stages.verify import VerifyStage
from edgedistill.pipeline.store.cache import StageCache, StageOutput, locked_cache
from edgedistill.pipeline.store.publish import publish, recover
from edgedistill.pipeline.tasks import get_task
from edgedistill.progress import Progress

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    report: Report
    manifest: Manifest


def build(
    config: ProjectConfig,
    target_name: str,
    out_root: Path,
    cache_dir: Path,
    progress: Progress,
    device: DeviceSpec | None = None,
    budget: Budget | None = None,
    calibration: Path | None = None,
) -> BuildResult | None:
    """The build, shipped to out_root/<target>; None on the training ranks > 0 of a distributed build. With a
    budget, the student is the most accurate candidate within it (pipeline/budget.py), and calibration is the
    latency calibration to cost candidates with (default: the target's)."""
    target = resolve_target(target_name, device)
    if not current_world().is_main:  # a training rank of a distributed build: rank 0 holds the lock and the cache
        return _build(config, target, Path(out_root), StageCache(cache_dir), progress, device)
    with locked_cache(cache_dir) as (cache, cleaned):
        for line in recover(Path(out_root) / target.name) + cleaned:  # after a build that was killed
            progress.console.print(f"resuming: {line}")
        searched = None
        if budget is not None:
            config, searched = search_budget(
                config, budget, target, cache, progress, calibration_path=calibration, device=device
            )
        return _build(config, target, Path(out_root), cache, progress, device, searched, calibration)


def _build(
    config: ProjectConfig,
    target: DeviceProfile,
    out_root: Path,
    cache: StageCache,
    progress: Progress,
    device: DeviceSpec | None,
    budget_search: BudgetSearch | None = None,
    calibration: Path | None = None,
) -> BuildResult | None:
    started = time.perf_counter()
    timings: list[StageTiming] = []
    task = get_task(config.task)

    def run(stage: Stage[R], name: str | None = None) -> StageOutput[R]:
        t0 = time.perf_counter()
        out = run_stage(stage, cache)
        timings.append(
            StageTiming(
                name=name or stage.name,
                key=out.key,
                cached=out.cached,
                seconds=round(time.perf_counter() - t0, 3),
                built_seconds=out.seconds,  # what the stage took when it ran (an earlier build's, for a cache hit)
            )
        )
        return out

    t0 = time.perf_counter()
    world = current_world()
    # each machine's first rank decodes the data into its cache (once, for all machines on a shared folder),
    # then the machine's other ranks read it
    for turn in ("first", "then") if world.distributed else ("first",):
        if (turn == "first") == (world.local_rank == 0):
            data = load_data(config.data, cache.root / "data", progress)
            teacher = load_teacher(config.teacher, data, progress, task)
        world.barrier()
    timings.append(
        StageTiming(name="load", key=data.fingerprint[:24], cached=False, seconds=round(time.perf_counter() - t0, 3))
    )
    synthesized = None
    if config.data.synthetic is not None:  # data-free: train and validate on images made from the teacher
        data, synthesized = synthesized_data(
            config.data.synthetic, config.distillation, data, teacher, cache, progress, run
        )

    chain = distill(config, data, teacher, task, progress, run)
    if world.distributed:  # the training is done: rank 0 goes on alone to export, verify, measure and ship
        world.barrier()
        leave_world()
        if not world.is_main:
            return None
    distilled = chain.student
    if config.prune is not None:
        distilled = run(PruneStage(data, teacher, chain.student, config.prune, config.distillation, progress))
    exported = run(ExportStage(distilled, data, config.export, config.quantization, progress))
    quantization: Int8Choice | None = None
    qat = None
    verdict = ptq_verdict(exported, config.quantization)
    if verdict is not None and verdict.run_qat:
        qat = run(QATStage(distilled, data, teacher, config.distillation, config.quantization, progress))
        exported = run(Int8ChoiceStage(exported, qat, verdict), "int8 choice")
        quantization = exported.result.int8_choice
    elif verdict is not None:
        quantization = ptq_shipped(verdict)
    verified = run(VerifyStage(data, teacher, distilled, exported, config.quantization, task, progress))
    bench = run(HostBenchmarkStage(exported, config.benchmark, target, progress)) if config.benchmark.enabled else None

    on_device = None
    if device is not None:
        t0 = time.perf_counter()
        on_device = measure_on_device(exported, device, target, config.benchmark, progress)
        timings.append(
            StageTiming(name="device benchmark", key="", cached=False, seconds=round(time.perf_counter() - t0, 3))
        )

    shipped = {exported.files[fmt]: (exported.path(fmt), exported.sha256[fmt]) for fmt in exported.files}
    shipped["student.pt"] = (distilled.path("student"), distilled.sha256["student"])
    if "pruning" in distilled.files:  # the pruned student rebuilds from its arch + this history
        shipped["pruning.json"] = (distilled.path("pruning"), distilled.sha256["pruning"])
    if synthesized is not None:  # what the student learnt from, to look at
        shipped[SYNTHESIZED_PNG] = (synthesized.path("grid"), synthesized.sha256["grid"])
    if qat is not None and quantization is not None and quantization.shipped == "qat":
        shipped[QAT_STATE] = (qat.path("state"), qat.sha256["state"])  # with student.pt: re-exports the int8 model
    files = {name: ShippedFile(sha256=sha, size_bytes=path.stat().st_size) for name, (path, sha) in shipped.items()}
    how = None if quantization is None else quantization.shipped.upper()
    recommended = recommend(list(exported.result.artifacts), verified.result.int8_drop, how)
    manifest = build_manifest(
        project=config.name,
        task=task,
        target=target,
        data=data,
        arch=distilled.result.arch,
        artifacts=exported.result.artifacts,
        shipped_as=exported.files,
        files=files,
        recommendation=recommended,
    )
    estimate, estimates_ms = estimate_artifacts(exported, target, config.benchmark, calibration)
    report = assemble_report(
        config=config,
        task=task,
        target=target,
        data=data,
        teacher=teacher,
        chain=chain,
        student=distilled,
        exported=exported,
        verified=verified,
        bench=bench,
        timings=timings,
        recommended=recommended,
        estimate=estimate,
        estimates_ms=estimates_ms,
        started=started,
        on_device=on_device,
        quantization=quantization,
        budget=budget_search,
        synthesized=None if synthesized is None else synthesized.result,
    )
    out_dir = Path(out_root) / target.name
    publish(
        out_dir,
        {name: path for name, (path, _) in shipped.items()},
        {"manifest.json": manifest.model_dump(mode="json"), "report.json": report.model_dump(mode="json")},
        {REPORT_HTML: render_html(report, manifest, pictures_of(shipped))},
    )
    return BuildResult(out_dir=out_dir, report=report, manifest=manifest)


def synthesized_data(
    synthetic: SyntheticConfig,
    recipe: DistillationConfig,
    data: DataBundle,
    teacher: Teacher,
    cache: StageCache,
    progress: Progress,
    run: Callable[[Stage], StageOutput] | None = None,
) -> tuple[DataBundle, StageOutput[SynthesizedData]]:
    """data with its training and validation splits replaced by images synthesized from the teacher (cached as
    the synthesize stage, on the recipe's device, through `run`, default run_stage on the cache; its output is
    returned too); its test split stays the source's, or is the whole source (synthetic.test)."""
    check_invertible(teacher)
    stage = SynthesizeStage(data, teacher, synthetic, recipe, progress)
    made = run(stage) if run is not None else run_stage(stage, cache)
    bundle = synthetic_bundle(
        data,
        made.path("images"),
        made.sha256["images"],
        synthetic.val_fraction,
        synthetic.seed,
        cache.root / "data",
        whole_source_test=synthetic.test == "source",
    )
    return bundle, made


def pictures_of(shipped: dict[str, tuple[Path, str]]) -> dict[str, bytes]:
    """The shipped images report.html shows (inlined: the page stays one file)."""
    return {name: path.read_bytes() for name, (path, _) in shipped.items() if name in PICTURES}
