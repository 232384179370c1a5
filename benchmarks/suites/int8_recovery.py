"""int8 recovery on RGB tasks the repo makes: what each fix for an int8 drop gains, over seeds.

Tasks (deterministic):
- photos (default): 96x96 crops of the two photographs scikit-learn ships (`load_sample_images`), at random
  scales, brightness, contrast and flips; the class is which fifth of which photo the crop comes from (10
  classes; crop centres keep a fifth of a class's width off its borders, so no label is a coin toss).
  Where fp32 is often wrong, int8's flips cancel (as many wrong-to-right as right-to-wrong); an
  unambiguous task and a student trained to convergence (40 epochs) show what PTQ costs. Students
  distilled for 15 epochs lost about 0.5 points; at 40 epochs, 1.7 (3 seeds).
- gratings: 96x96 gratings in 10 classes by orientation, neighbours overlapping, low contrast under noise,
  a saturated glare patch in a fifth of the images (PTQ lost nothing on it: kept as a contrast).

A ResNet-8 teacher is trained here on its own 64x64 view; each seed distils a MobileNetV2-0.35 student at
96x96 and builds it with:

- fp32: the fp32 .tflite;
- PTQ: full-integer int8 with histogram activation ranges (litert-torch's default);
- PTQ + equalization: cross-layer equalization and bias correction of the student, then the same PTQ;
- PTQ + all fixes: every activation range (histogram, min-max, moving average) with and without
  equalization, the best on validation;
- QAT (own targets): quantization-aware training on the fp32 student's own soft targets (mode qat, the
  default qat_teacher: student);
- QAT-KD: quantization-aware distillation from the project's teacher instead (qat_teacher: teacher);
- auto: what the default (mode auto) ships.

Accuracy is on the build's test split. Time is each step's own stage time (the distillation is shared).

    python -m edgedistill.benchmarks.suites.int8_recovery [--task photos] [--seeds 0 1 2] [--images 6000]
        [--epochs 40] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from rich.table import Table

from edgedistill.benchmarks.suites.provenance import write_results
from edgedistill.progress import table_console

CLASSES = 10
SIDE = 96
TEACHER_VIEW = 64
TEACHER = {"num_classes": CLASSES, "in_channels": 3, "input_size": TEACHER_VIEW, "base": 16}


def class_band(c: int, width: int) -> tuple[int, int]:
    """The columns where crops of class c are centred: its fifth of the photo less a fifth of that at each border
    (so no label is a coin toss between neighbouring classes)."""
    left, right = (c % 5) * width // 5, (c % 5 + 1) * width // 5
    inset = (right - left) // 5
    return left + inset, right - inset


def crop_left(c: int, width: int, size: int, rng: np.random.Generator) -> int:
    """The left column of a size-wide crop of class c, centred in its band (shifted inside the photo at its edges)."""
    lo, hi = class_band(c, width)
    return int(np.clip(int(rng.integers(lo, hi)) - size // 2, 0, width - size))


def make_photo_crops(dest: Path, n: int, seed: int = 0) -> Path:
    """n labelled crops of scikit-learn's two sample photographs as an .npz of uint8 NHWC images (written once)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    if dest.is_file():
        return dest
    photos = load_sample_images().images  # two 427x640 RGB photographs
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = np.empty((n, SIDE, SIDE, 3), np.uint8)
    for i, c in enumerate(y):
        photo = photos[c // 5]
        h, w, _ = photo.shape
        size = int(rng.integers(48, 112))
        x0 = crop_left(int(c), w, size, rng)
        y0 = int(rng.integers(0, h - size))
        crop = Image.fromarray(photo[y0 : y0 + size, x0 : x0 + size]).resize((SIDE, SIDE), Image.BILINEAR)
        pixels = np.asarray(crop).astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
        x[i] = np.clip(pixels[:, ::-1] if rng.random() < 0.5 else pixels, 0, 255).astype(np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, x=x, y=y)
    return dest


def make_gratings(dest: Path, n: int, seed: int = 0, glare: float = 0.2) -> Path:
    """n labelled gratings as an .npz of uint8 NHWC images (written once)."""
    if dest.is_file():
        return dest
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    x = np.empty((n, SIDE, SIDE, 3), np.uint8)
    for i, c in enumerate(y):
        theta = np.pi * (c + rng.uniform(-0.6, 0.6)) / CLASSES  # neighbours overlap
        wave = np.sin(2 * np.pi * rng.uniform(3, 9) * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 6.3))
        img = rng.uniform(0.35, 0.65, 3) + rng.uniform(0.03, 0.1, 3) * wave[..., None]
        img += rng.normal(0, 0.08, (SIDE, SIDE, 3))
        if rng.random() < glare:
            s = int(rng.integers(8, 20))
            x0, y0 = rng.integers(0, SIDE - s, 2)
            img[y0 : y0 + s, x0 : x0 + s] = rng.choice([0.0, 1.0], 3)
        x[i] = np.clip(img * 255, 0, 255).astype(np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, x=x, y=y)
    return dest


TASKS = {"photos": make_photo_crops, "gratings": make_gratings}


def teacher_checkpoint(npz: Path, dest: Path, epochs: int) -> tuple[Path, float]:
    """A ResNet-8 trained here on the task's training split at its 48x48 view (written once)."""
    from edgedistill.pipeline.config import DataConfig
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.example.teacher import train_teacher
    from edgedistill.progress import Progress
    from edgedistill.students.resnet import resnet8

    done = dest.with_suffix(".json")
    if dest.is_file() and done.is_file():
        return dest, json.loads(done.read_text())["test_accuracy"]
    data = load_data(DataConfig(npz=npz), dest.parent / "data")
    model = resnet8(**TEACHER)
    accuracy = train_teacher(
        data, dest, Progress(), model=model, input_size=(TEACHER_VIEW, TEACHER_VIEW), epochs=epochs, augment=False
    )
    done.write_text(json.dumps({"test_accuracy": accuracy}))
    return dest, accuracy


def write_project(folder: Path, npz: Path, teacher: Path, seed: int, epochs: int) -> None:
    config = {
        "name": f"int8-recovery-{seed}",
        "teacher": {
            "factory": "edgedistill.students.resnet:resnet8",
            "kwargs": TEACHER,
            "checkpoint": str(teacher),
            "input_size": [TEACHER_VIEW, TEACHER_VIEW],
        },
        "data": {"npz": str(npz)},
        "student": {"name": "mobilenetv2", "width": 0.35, "input_size": SIDE},
        "distillation": {"epochs": epochs, "augment": False, "baseline": False, "seed": seed},
        "export": {"formats": ["tflite_fp32", "tflite_int8"]},
        "benchmark": {"enabled": False},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edgedistill.yaml").write_text(yaml.safe_dump(config))


def build(folder: Path, **quantization) -> dict:
    """The report of a build of the project with these quantization settings (stages cached across calls)."""
    config = yaml.safe_load((folder / "edgedistill.yaml").read_text())
    config["quantization"] = quantization
    (folder / "edgedistill.yaml").write_text(yaml.safe_dump(config))
    cli = [sys.executable, "-m", "edgedistill.cli", "build", "--target", "rpi4", "--quiet", "--json"]
    proc = subprocess.run(cli, cwd=folder, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"build failed in {folder}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def _seconds(report: dict, *stages: str) -> float:
    return sum(s["seconds"] for s in report["stages"] if s["name"] in stages and not s["cached"])


def measure(folder: Path) -> dict:
    ptq = build(folder, mode="ptq", activation_ranges="histogram", equalization="off")
    equalized = build(folder, mode="ptq", activation_ranges="histogram", equalization="on")
    fixes = build(folder, mode="ptq", activation_ranges="auto", equalization="auto", tolerance_points=0.0)
    qat = build(folder, mode="qat", qat_teacher="student")
    qat_teacher = build(folder, mode="qat", qat_teacher="teacher")
    auto = build(folder)
    return {
        "fp32": ptq["artifacts"]["tflite_fp32"]["accuracy"],
        "ptq": ptq["artifacts"]["tflite_int8"]["accuracy"],
        "ptq_equalized": equalized["artifacts"]["tflite_int8"]["accuracy"],
        "ptq_fixes": fixes["artifacts"]["tflite_int8"]["accuracy"],
        "fixes_kept": fixes["artifacts"]["tflite_int8"]["ptq"]["kept"],
        "qat": qat["artifacts"]["tflite_int8"]["accuracy"],
        "qat_teacher": qat_teacher["artifacts"]["tflite_int8"]["accuracy"],
        "auto": auto["artifacts"]["tflite_int8"]["accuracy"],
        "auto_shipped": auto["quantization"]["shipped"],
        "distill_s": _seconds(ptq, "distill"),
        "ptq_s": _seconds(ptq, "export"),
        "equalized_s": _seconds(equalized, "export"),
        "fixes_s": _seconds(fixes, "export"),
        "qat_s": _seconds(qat, "qat"),
        "qat_teacher_s": _seconds(qat_teacher, "qat"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), default="photos")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=40, help="distillation epochs of each student")
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--keep", type=Path, help="work here (kept: the task and teacher are reused)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="edgedistill-int8-"))
    npz = TASKS[args.task](root / args.task / f"images-{args.images}.npz", args.images)
    teacher, teacher_acc = teacher_checkpoint(npz, root / args.task / "teacher.pt", args.teacher_epochs)
    rows = []
    for seed in args.seeds:
        folder = root / args.task / f"seed{seed}"
        write_project(folder, npz, teacher, seed, args.epochs)
        rows.append({"seed": seed, **measure(folder)})

    cols = [
        ("fp32", "fp32 %"),
        ("ptq", "PTQ %"),
        ("ptq_equalized", "PTQ+eq %"),
        ("ptq_fixes", "PTQ+fixes %"),
        ("qat", "QAT %"),
        ("qat_teacher", "QAT-KD %"),
        ("auto", "auto %"),
    ]
    table = Table(
        title=f"int8 recovery: {args.task} {SIDE}x{SIDE}, MobileNetV2-0.35, teacher ResNet-8 {teacher_acc:.2f}%"
    )
    for header in [
        "seed",
        *(h for _, h in cols),
        "fixes kept",
        "auto shipped",
        "distill s",
        "PTQ s",
        "eq s",
        "fixes s",
        "QAT s",
        "QAT-KD s",
    ]:
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(
            str(r["seed"]),
            *(f"{r[k]:.2f}" for k, _ in cols),
            r["fixes_kept"],
            r["auto_shipped"],
            *(f"{r[k]:.0f}" for k in ("distill_s", "ptq_s", "equalized_s", "fixes_s", "qat_s", "qat_teacher_s")),
        )
    mean = {k: float(np.mean([r[k] for r in rows])) for k, _ in cols}
    table.add_row("mean", *(f"{mean[k]:.2f}" for k, _ in cols), *[""] * 8)
    console = table_console(width=180)
    console.print(table)
    console.print(
        "int8 below fp32 (mean): "
        + ", ".join(f"{header.removesuffix(' %')} {mean['fp32'] - mean[k]:+.2f}" for k, header in cols[1:])
        + " points"
    )
    if args.json:
        write_results(args.json, {"teacher_accuracy": teacher_acc, "rows": rows, "mean": mean})


if __name__ == "__main__":
    main()
