"""Data at scale: a synthetic photo set (JPEG, 224x224, 10 classes) at several sizes, built end to end the way
issue 23 measured it: an ONNX teacher at 224x224 (a small conv net trained here on other photos of the same
classes, exported with torch.onnx.export), a MobileNetV2-0.35 student at 96x96, one epoch, `tflite_int8` only.
Each size is built from a folder of JPEGs in class folders; the sizes in --npz-sizes are built a second time from
one .npz holding the same decoded images (x, y). For each build it prints:

- decode: the load stage of the first build (decoding every image into the store, and the pixel statistics);
- loader: images/s that the loader alone delivers from the store at the student's 96x96 view (folder rows);
- distill: training images/s of the distillation stage (one epoch, the teacher live, validation included);
- verify: seconds of the verify stage (the teacher, the student and the int8 file over the test split);
- peak memory of the whole process tree (the build and its workers): the largest sum over its processes
  of Pss_Anon + Pss_Shmem from /proc/PID/smaps_rollup, sampled every 0.2 s, and when in the build it came.
  File-backed pages of the memory-mapped store do not count: the kernel can drop them.

    python -m edgedistill.benchmarks.suites.scale [--sizes 5000 20000 50000] [--npz-sizes 20000] [--keep DIR]
        [--json benchmarks/results/scale.json]

Issue 23's test of "memory bounded by the batch, never by the data set": the folder rows' peaks within 15% of each
other, and the npz row within 10% of the folder row of its size. The largest folder is built a second time to show
that nothing is decoded again.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
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
TEACHER_POOL = 4  # the teacher averages 4x4 pixels first: it takes 224x224 and computes at 56x56
TEACHER_MEAN, TEACHER_STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
TEACHER_SEED = 10**8  # the teacher's own photos: seeds no build's photo uses
FOLDER_SPREAD, NPZ_GAP = 0.15, 0.10  # issue 23's bounds: folder peaks within 15%, npz within 10% of the folder


def _render(c: int, seed: int):
    """One synthetic photo (a PIL image): class c is a shape (c % 5) in a colour family (c // 5), at a random place
    and size, on a random smooth background."""
    from PIL import Image, ImageDraw

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
    return img


def _photo(args: tuple[Path, int, int]) -> None:
    path, c, seed = args
    _render(c, seed).save(path, "JPEG", quality=88)


def _pooled_photo(args: tuple[int, int]) -> np.ndarray:
    """A photo as the teacher computes on it: through JPEG, then averaged over TEACHER_POOL x TEACHER_POOL pixels."""
    from PIL import Image

    c, seed = args
    buffer = io.BytesIO()
    _render(c, seed).save(buffer, "JPEG", quality=88)
    x = np.asarray(Image.open(buffer).convert("RGB"), np.float32) / 255
    side = SIDE // TEACHER_POOL
    return x.reshape(side, TEACHER_POOL, side, TEACHER_POOL, 3).mean(axis=(1, 3))


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


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def make_npz(photos: Path, dest: Path, chunk: int = 512) -> Path:
    """The photos of a folder as one .npz (x: uint8 N x 224 x 224 x 3, y: int64 class numbers), class by class as
    the folder lists them; written once, streamed a chunk at a time (never the whole array in memory)."""
    if dest.is_file():
        return dest
    classes = sorted(p.name for p in photos.iterdir() if p.is_dir())
    files = [(f, k) for k, name in enumerate(classes) for f in sorted((photos / name).glob("*.jpg"))]
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as fh:
            header = {"descr": "|u1", "fortran_order": False, "shape": (len(files), SIDE, SIDE, 3)}
            np.lib.format.write_array_header_2_0(fh, header)
            with ProcessPoolExecutor(os.cpu_count()) as pool:
                for start in range(0, len(files), chunk):
                    part = [f for f, _ in files[start : start + chunk]]
                    fh.write(np.stack(list(pool.map(_decode, part, chunksize=32))).tobytes())
        with zf.open("y.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([k for _, k in files], np.int64))
    tmp.replace(dest)
    return dest


def make_teacher(dest: Path, photos: int = 3000, epochs: int = 12) -> tuple[Path, float]:
    """An ONNX teacher that takes 224x224 RGB (normalised with TEACHER_MEAN/STD): a 4x4 average pool, then a small
    conv net trained here on `photos` photos of its own; written once. (its file, held-out accuracy in %)."""
    import torch
    from torch import nn

    from edgedistill.export.onnx_export import export_onnx

    accuracy_file = dest.with_suffix(".accuracy")
    if dest.is_file() and accuracy_file.is_file():
        return dest, float(accuracy_file.read_text())
    labels = np.arange(photos) % CLASSES
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        pooled = list(pool.map(_pooled_photo, [(int(c), TEACHER_SEED + i) for i, c in enumerate(labels)], chunksize=64))
    x = (torch.from_numpy(np.stack(pooled)).permute(0, 3, 1, 2) - TEACHER_MEAN[0]) / TEACHER_STD[0]
    y = torch.from_numpy(labels)
    held = photos // 6
    torch.manual_seed(0)
    body = nn.Sequential(
        nn.Conv2d(3, 24, 3, padding=1),
        nn.BatchNorm2d(24),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(24, 48, 3, padding=1),
        nn.BatchNorm2d(48),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(48, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, CLASSES),
    )
    opt = torch.optim.AdamW(body.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * -(-(photos - held) // 64))
    for _ in range(epochs):
        body.train()
        for idx in torch.randperm(photos - held).split(64):
            idx = idx + held
            loss = nn.functional.cross_entropy(body(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    body.eval()
    with torch.no_grad():
        accuracy = float((body(x[:held]).argmax(1) == y[:held]).float().mean() * 100)
    export_onnx(nn.Sequential(nn.AvgPool2d(TEACHER_POOL), body).eval(), (3, SIDE, SIDE), dest)
    accuracy_file.write_text(f"{accuracy:.2f}")
    return dest, accuracy


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (DataLoader workers, converters)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def tree_memory_kb(pid: int) -> int:
    """sum(Pss_Anon + Pss_Shmem) in kB over a process and its descendants, from /proc/PID/smaps_rollup: memory
    the process tree holds (shared pages split fairly), not file-backed pages the kernel can drop (a memory-mapped
    store read once)."""
    total = 0
    for member in tree_pids(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Pss_Anon:", "Pss_Shmem:")):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


class TreeMemory:
    """Peak over time of sum(Pss_Anon + Pss_Shmem) over a process and all its descendants, sampled every
    `interval` seconds in a thread (the process may be this one)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak_kb, self._stop = pid, interval, 0, threading.Event()
        self.peak_at_s = 0.0  # seconds after the start when the peak was seen
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._start = time.perf_counter()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.pid == os.getpid():  # another process has ended (its pid may be another's by now)
            self._sample()

    def _sample(self) -> None:
        now = tree_memory_kb(self.pid)
        if now > self.peak_kb:
            self.peak_kb, self.peak_at_s = now, time.perf_counter() - self._start

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)


def build(folder: Path) -> tuple[dict, float, TreeMemory]:
    """(report.json, wall seconds, the tree's memory) of one build."""
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
    return json.loads(out), time.perf_counter() - start, memory


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


def project(root: Path, n: int, source: str, teacher: Path) -> Path:
    """A project of n photos, from their folder or (source "npz") from one .npz of them."""
    folder = root / f"{source}{n}"
    folder.mkdir(parents=True, exist_ok=True)
    photos, _ = make_photos(root / "photos" / f"n{n}", n)
    data = (
        {"image_folder": str(photos)}
        if source == "folder"
        else {"npz": str(make_npz(photos, root / "photos" / f"n{n}.npz"))}
    )
    config = {
        "name": f"scale-{source}-{n}",
        "teacher": {
            "onnx": str(teacher),
            "input_size": [SIDE, SIDE],
            "normalize": {"mean": TEACHER_MEAN, "std": TEACHER_STD},
        },
        "data": data,
        "student": {"name": "mobilenetv2", "width": 0.35, "input_size": VIEW},
        "distillation": {"epochs": 1, "batch_size": 64, "augment": False, "baseline": False},
        "export": {"formats": ["tflite_int8"]},
        "quantization": {"calibration_samples": 128},
        "benchmark": {"runs": 10, "warmup": 2},
    }
    (folder / "edgedistill.yaml").write_text(yaml.safe_dump(config))
    return folder


def measure(root: Path, n: int, source: str, teacher: Path) -> dict:
    folder = project(root, n, source, teacher)
    report, wall, memory = build(folder)
    stages = {s["name"]: s for s in report["stages"]}
    train_images = report["data"]["train"] + report["data"]["transfer_unlabeled"]
    return {
        "images": n,
        "source": source,
        "test_images": report["data"]["test"],
        "decode_s": stages["load"]["seconds"],
        "loader_images_per_s": round(loader_throughput(folder)) if source == "folder" else None,
        "distill_images_per_s": round(train_images / stages["distill"]["seconds"]),
        "verify_s": stages["verify"]["seconds"],
        "peak_mb": round(memory.peak_kb / 1024),
        "peak_at_s": round(memory.peak_at_s, 1),
        "build_s": round(wall, 1),
        "stage_s": {name: s["seconds"] for name, s in stages.items()},
        "int8_accuracy": report["artifacts"]["tflite_int8"]["accuracy"],
        "teacher_accuracy": report["teacher"].get("accuracy"),
    }


def bounds(rows: list[dict]) -> dict:
    """Issue 23's done-when on these rows: the folder peaks' spread (largest over smallest, less 1) under 15%, and
    each npz peak within 10% of the folder peak of its size."""
    folder = {r["images"]: r["peak_mb"] for r in rows if r["source"] == "folder"}
    out: dict = {}
    if len(folder) > 1:
        spread = max(folder.values()) / min(folder.values()) - 1
        out["folder_spread"] = round(spread, 3)
        out["folder_within_15pct"] = spread < FOLDER_SPREAD
    for r in rows:
        if r["source"] == "npz" and r["images"] in folder:
            gap = r["peak_mb"] / folder[r["images"]] - 1
            out[f"npz_{r['images']}_vs_folder"] = round(gap, 3)
            out[f"npz_{r['images']}_within_10pct"] = abs(gap) < NPZ_GAP
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000], help="folder builds")
    parser.add_argument("--npz-sizes", type=int, nargs="*", default=[20000], help="npz builds (of the same photos)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="work in this folder (kept: photos, npz and teacher are reused) instead of a temporary one",
    )
    parser.add_argument("--json", type=Path, help="also write the results here (benchmarks/results/scale.json)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="edgedistill-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    teacher, teacher_accuracy = make_teacher(root / "teacher.onnx")
    console = Console()
    console.print(f"teacher: {teacher} ({teacher_accuracy:.1f}% on held-out photos of its own)")
    rows = []
    for n, source in [(n, "folder") for n in args.sizes] + [(n, "npz") for n in args.npz_sizes]:
        rows.append(measure(root, n, source, teacher))
        console.print(
            f"{source} {n:,}: peak {rows[-1]['peak_mb']:,} MB at {rows[-1]['peak_at_s']:.0f} s "
            f"of {rows[-1]['build_s']:.0f} s"
        )
    last = root / f"folder{args.sizes[-1]}"
    again, again_wall, again_memory = build(last)
    second_load = next(s for s in again["stages"] if s["name"] == "load")["seconds"]

    table = Table(
        title=f"edgedistill at scale: JPEG {SIDE}x{SIDE}, ONNX teacher at {SIDE}x{SIDE}, "
        f"MobileNetV2-0.35 at {VIEW}x{VIEW}, 1 epoch, tflite_int8, {os.cpu_count()} cores"
    )
    columns = ("images", "source", "decode s", "loader img/s", "distill img/s", "verify s", "peak MB", "build s")
    for col in (*columns, "int8 acc %"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r['images']:,}",
            r["source"],
            f"{r['decode_s']:.1f}",
            f"{r['loader_images_per_s']:,}" if r["loader_images_per_s"] is not None else "-",
            f"{r['distill_images_per_s']:,}",
            f"{r['verify_s']:.1f}",
            f"{r['peak_mb']:,}",
            f"{r['build_s']:.0f}",
            f"{r['int8_accuracy']:.2f}",
        )
    console.print(table)
    second_mb = round(again_memory.peak_kb / 1024)
    console.print(
        f"second build of {args.sizes[-1]:,}: load {second_load:.1f} s (no decoding), {again_wall:.0f} s in all, "
        f"peak {second_mb:,} MB"
    )
    checks = bounds(rows)
    for name, value in checks.items():
        console.print(f"{name}: {value}")
    if args.json:
        write_results(
            args.json,
            {
                "teacher_accuracy": teacher_accuracy,
                "rows": rows,
                "second_build": {"images": args.sizes[-1], "load_s": second_load, "peak_mb": second_mb},
                "bounds": checks,
            },
        )


if __name__ == "__main__":
    main()
