"""Does distillation pay? The same student trained from hard labels alone and with the teacher's
top-1 as hard pseudo-labels (plain self-training), Hinton KD, KD + FitNets hints and KD + RKD, with
few labels and with all of them, over several seeds.

    python -m edgedistill.benchmarks.suites.distillation [--seeds 0 1 2] [--epochs 10] [--json FILE]

Data: the bundled MNIST digits (3,500 train / 500 val / 1,000 test). "10% labels" keeps the labels
of 350 training images (35 per class) and gives the other 3,150 to the student as an unlabelled
transfer set; "all labels" uses every label. Teacher: the bundled ResNet-8. Student: DS-CNN 64ch.
The hard-label student gets as many optimizer steps as the distilled ones. Numbers are test-split
accuracy, mean +- std over seeds (student init and batch order; the labelled subset is fixed).
Stage outputs are cached (--cache), so a rerun only trains what changed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.pipeline.config import DataConfig, DistillationConfig, StudentConfig, TeacherConfig
from edgedistill.pipeline.data.bundle import DataBundle, load_data
from edgedistill.pipeline.distill.teacher import Teacher, load_teacher
from edgedistill.pipeline.distill.training import accuracy, evaluate
from edgedistill.pipeline.stages.base import run_stage
from edgedistill.pipeline.stages.baseline import BaselineStage
from edgedistill.pipeline.stages.distill import DistillStage
from edgedistill.pipeline.store.cache import StageCache, StageOutput
from edgedistill.pipeline.student import load_student, student_view
from edgedistill.progress import Progress

SETTINGS = {"10% labels": 0.1, "all labels": 1.0}
METHODS: dict[str, dict[str, Any] | None] = {
    "hard labels only": None,
    "teacher's top-1 as hard pseudo-labels": {"loss": "pseudo_labels"},
    "Hinton KD": {},
    "KD + hints": {"hints": [{"teacher": "layer2", "student": "features.2", "weight": 1.0}]},
    "KD + RKD": {"relation": {"distance": 25.0, "angle": 50.0}},
}
STUDENT = StudentConfig(name="dscnn")


def test_accuracy(out: StageOutput, data: DataBundle) -> float:
    model = load_student(out)
    logits = evaluate(model, data.test, student_view(data, out.result.arch), data.pixel_max)
    return accuracy(logits, data.test.y)


def run_one(
    method: dict[str, Any] | None,
    recipe: DistillationConfig,
    data: DataBundle,
    teacher: Teacher,
    cache: StageCache,
    progress: Progress,
) -> StageOutput:
    if method is None:
        return run_stage(BaselineStage(data, STUDENT, recipe, progress), cache)
    return run_stage(
        DistillStage(
            data, teacher, STUDENT, DistillationConfig.model_validate({**recipe.model_dump(), **method}), progress
        ),
        cache,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--augment", action="store_true", help="random shifts (the teacher then runs on every batch: slower)"
    )
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgedistill" / "bench-distillation")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    progress, cache = Progress(Console(stderr=True)), StageCache(args.cache)
    results: dict[str, Any] = {
        "student": STUDENT.model_dump(mode="json"),
        "epochs": args.epochs,
        "augment": args.augment,
        "seeds": args.seeds,
        "settings": {},
    }
    started = time.perf_counter()
    for setting in args.settings:
        data = load_data(DataConfig(bundled="mnist", labeled_fraction=SETTINGS[setting]))
        teacher = load_teacher(TeacherConfig(bundled="mnist-resnet8"), data, progress)
        teacher_acc = accuracy(teacher.split_logits(data.test, data.pixel_max), data.test.y)
        rows: dict[str, Any] = {}
        for name in args.methods:
            accs = []
            for seed in args.seeds:
                recipe = DistillationConfig(epochs=args.epochs, augment=args.augment, seed=seed, baseline=False)
                accs.append(
                    round(test_accuracy(run_one(METHODS[name], recipe, data, teacher, cache, progress), data), 3)
                )
            rows[name] = {
                "test_accuracy": accs,
                "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            }
        results["settings"][setting] = {
            "labelled": len(data.train),
            "transfer": len(data.transfer),
            "teacher_test_accuracy": teacher_acc,
            "methods": rows,
        }
    results["wall_seconds_with_cache_hits"] = round(time.perf_counter() - started, 1)
    print_table(results)
    if args.json:
        write_results(args.json, results)


def print_table(results: dict[str, Any]) -> None:
    settings = results["settings"]
    table = Table(
        title=f"test accuracy %, DS-CNN student, mean ± std over {len(results['seeds'])} seeds ({results['epochs']} epochs)"
    )
    table.add_column("method")
    for setting, info in settings.items():
        table.add_column(f"{setting} ({info['labelled']} labelled + {info['transfer']} unlabelled)", justify="right")
    methods = list(next(iter(settings.values()))["methods"])
    for name in methods:
        table.add_row(
            name, *(f"{s['methods'][name]['mean']:.2f} ± {s['methods'][name]['std']:.2f}" for s in settings.values())
        )
    table.add_row("teacher (ResNet-8)", *(f"{s['teacher_test_accuracy']:.2f}" for s in settings.values()))
    console = Console(width=140)
    console.print(table)
    for setting, s in settings.items():
        if "hard labels only" in s["methods"] and "Hinton KD" in s["methods"]:
            hard, kd = s["methods"]["hard labels only"], s["methods"]["Hinton KD"]
            gain, spread = kd["mean"] - hard["mean"], 2 * max(hard["std"], kd["std"])
            verdict = "more" if gain > spread else "NOT more"
            console.print(
                f"{setting}: Hinton KD gains {gain:+.2f} points over hard labels, {verdict} than twice the larger seed std ({spread:.2f})"
            )


if __name__ == "__main__":
    main()
