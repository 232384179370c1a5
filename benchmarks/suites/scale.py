"""Data at scale: a synthetic photo folder (JPEG, 224x224, 10 classes in class folders) at several sizes,
built end to end with a MobileNetV2-0.35 student at 96x96, one epoch, a teacher behind an API
(precomputed logits). For each size it prints:

- decode: the first build's data loading (decoding every JPEG into the store, and the pixel statistics);
- loader: images/s that the loader alone delivers from the store at the student's 96x96 view;
- distill: training images/s of the distillation stage (one epoch, validation included);
- peak memory of the whole process tree (the build and its workers): the largest sum over its processes
  of Pss_Anon + Pss_Shmem from /proc/PID/smaps_rollup, sampled every 0.2 s. File-backed pages of the
  memory-mapped store do not count: the kernel can drop them.

    python -m edgedistill.benchmarks.suites.scale [--sizes 5000 20000 50000] [--keep DIR] [--json FILE]

The largest size is built a second time to show that nothing is decoded again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from edgedistill.benchmarks.suites.provenance import write_results

CLASSES = 10
SIDE = 224
VIEW = 96


def _photo(args: tuple[Path, int, int]) -> None:
    """One synthetic photo: class c is a shape (c % 5) in a colour family (c // 5), at a random place and size,
    on a random smooth background."""
    from PIL import Image, ImageDraw

    path, c, seed = args
    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, SIDE)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).astype(np.uint8).repeat(SIDE, axis=1)
    img = Image.fromarray(background)
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(50, 120))
    x0, y0 = (int(v) for v in rng.integers(0, SIDE - size, 2))
    box = (x0, y0, x0 + size, y0 + size)
    colour = tuple(int(v) for v in ((230, 40, 40) if c // 5 == 0 else (40, 60, 230)) + rng.integers(-25, 25, 3))
    shape = c % 5
    if shape == 0:
        draw.ellipse(box, fill=colour)
    elif shape == 1:
        draw.rectangle(box, fill=colour)
    elif shape == 2:
        draw.polygon([(x0 + size // 2, y0), (x0, y0 + size), (x0 + size, y0 + size)], fill=colour)
    elif shape == 3:
        for k in range(0, size, 12):
            draw.rectangle((x0, y0 + k, x0 + size, y0 + k + 5), fill=colour)
    else:
        draw.line((x0, y0, x0 + size, y0 + size), fill=colour, width=14)
        draw.line((x0 + size, y0, x0, y0 + size), fill=colour, width=14)
    img.save(path, "JPEG", quality=88)


def make_photos(folder: Path, n: int) -> tuple[Path, np.ndarray]:
    """n photos in class folders (written once; an existing complete folder is reused) and their labels in
    the order the data path lists them."""
    labels = np.arange(n) % CLASSES
    jobs = []
    for i, c in enumerate(labels):
        path = folder / f"class{c}" / f"{i:07d}.jpg"
        if not path.is_file():
            jobs.append((path, int(c), i))
    for c in range(CLASSES):
        (folder / f"class{c}").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_photo, jobs, chunksize=256))
    return folder, np.sort(labels, kind="stable")  # listed class by class


def teacher_logits(labels: np.ndarray, dest: Path) -> Path:
    """A good teacher behind an API: confident logits for the true class, with some noise."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1, (len(labels), CLASSES)).astype(np.float32)
    logits[np.arange(len(labels)), labels] += 6.0
    np.save(dest, logits)
    return dest


class TreeMemory:
    """Peak over time of sum(Pss_Anon + Pss_Shmem) over a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith(("Pss_Anon:", "Pss_Shmem:")):
                            total += int(line.split()[1])
                except OSError:
                    continue
            self.peak_kb = max(self.peak_kb, total)
            self._stop.wait(0.2)


def build(folder: Path) -> tuple[dict, float, float]:
    """(report.json, wall seconds, peak tree memory in MB) of one build."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgedistill.cli", "build", "--target", "rpi4", "--quiet", "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeMemory(proc.pid) as memory:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"build failed in {folder}: {err.strip()[-2000:]}")
    return json.loads(out), time.perf_counter() - start, memory.peak_kb / 1024


def loader_throughput(folder: Path, images: int = 20000) -> float:
    """Images/s from the store at the student's view: random batches of 64, read, to float, resized, normalised."""
    import torch

    from edgedistill.pipeline.config import load_config
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.data.loader import batches_of, loader_workers, to_unit
    from edgedistill.pipeline.data.transforms import make_normalizer

    config = load_config(folder / "edgedistill.yaml")
    data = load_data(config.data, folder / ".edgedistill-cache" / "data")
    train = data.training_set()
    order = np.random.default_rng(0).permutation(len(train))[:images]
    batches = [order[s : s + 64] for s in range(0, len(order), 64)]
    cpu = torch.device("cpu")
    view = make_normalizer(data.mean, data.std, (VIEW, VIEW))
    start = time.perf_counter()
    seen = 0
    for _, raw in batches_of(train, batches, loader_workers(None, train, cpu), cpu):
        seen += len(view(to_unit(raw, data.pixel_max, cpu)))
    return seen / (time.perf_counter() - start)


def project(root: Path, n: int) -> Path:
    folder = root / f"n{n}"
    folder.mkdir(parents=True, exist_ok=True)
    photos, labels = make_photos(root / "photos" / f"n{n}", n)
    config = {
        "name": f"scale-{n}",
        "teacher": {"logits": str(teacher_logits(labels, folder / "teacher_logits.npy"))},
        "data": {"image_folder": str(photos)},
        "student": {"name": "mobilenetv2", "width": 0.35, "input_size": VIEW},
        "distillation": {"epochs": 1, "batch_size": 64, "augment": False, "baseline": False},
        "export": {"formats": ["tflite_int8"]},
        "quantization": {"calibration_samples": 128},
        "benchmark": {"runs": 10, "warmup": 2},
    }
    (folder / "edgedistill.yaml").write_text(yaml.safe_dump(config))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000])
    parser.add_argument(
        "--keep", type=Path, help="work in this folder (kept: photos are reused) instead of a temporary one"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="edgedistill-scale-"))
    rows = []
    for n in args.sizes:
        folder = project(root, n)
        report, wall, peak_mb = build(folder)
        stages = {s["name"]: s for s in report["stages"]}
        train_images = report["data"]["train"] + report["data"]["transfer_unlabeled"]
        rows.append(
            {
                "images": n,
                "decode_s": stages["load"]["seconds"],
                "loader_images_per_s": round(loader_throughput(folder)),
                "distill_images_per_s": round(train_images / stages["distill"]["seconds"]),
                "peak_mb": round(peak_mb),
                "build_s": round(wall, 1),
                "int8_accuracy": report["artifacts"]["tflite_int8"]["accuracy"],
            }
        )
    again, again_wall, again_mb = build(folder)
    second_load = next(s for s in again["stages"] if s["name"] == "load")["seconds"]

    table = Table(
        title=f"edgedistill at scale: JPEG {SIDE}x{SIDE}, MobileNetV2-0.35 at {VIEW}x{VIEW}, 1 epoch, 2 cores"
    )
    for col in ("images", "decode s", "loader img/s", "distill img/s", "peak MB", "build s", "int8 acc %"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r['images']:,}",
            f"{r['decode_s']:.1f}",
            f"{r['loader_images_per_s']:,}",
            f"{r['distill_images_per_s']:,}",
            f"{r['peak_mb']:,}",
            f"{r['build_s']:.0f}",
            f"{r['int8_accuracy']:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"second build of {args.sizes[-1]:,}: load {second_load:.1f} s (no decoding), {again_wall:.0f} s in all, "
        f"peak {again_mb:.0f} MB"
    )
    if len(rows) > 1:
        growth = rows[-1]["peak_mb"] / rows[0]["peak_mb"] - 1
        console.print(f"peak memory at {rows[-1]['images']:,} vs {rows[0]['images']:,} images: {growth:+.0%}")
    if args.json:
        write_results(args.json, {"rows": rows, "second_build_load_s": second_load})


if __name__ == "__main__":
    main()
