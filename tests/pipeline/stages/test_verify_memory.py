"""Verify holds memory bounded by its batches, not by the test split: the same stage over 200 and over 2,000 test
images, each in a child process of its own, peaks within a few evaluation batches of each other.

The case that grew: an ONNX teacher at 224x224 over a test split, its logits kept batch by batch. A small tensor
kept from every batch is allocated among that batch's large freed buffers on glibc's heap, which then grew by
about one batch (32 MB) per batch: from 0.75 to 5 GB over 10,000 test images. The measure is the child's
Pss_Anon + Pss_Shmem from /proc (what onnxruntime and torch allocate natively, which tracemalloc does not see),
sampled while the stage runs, less what it held just before."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgedistill.pipeline.config import (
    DataConfig,
    DistillationConfig,
    ExportConfig,
    QuantizationConfig,
    SplitConfig,
    StudentConfig,
    TeacherConfig,
)
from edgedistill.pipeline.distill.training import EVAL_BYTES

SIDE, TEACHER_SIDE, CLASSES = 32, 224, 10
SMALL, LARGE = 200, 2_000  # test images
STUDENT = StudentConfig(name="dscnn", options={"channels": 16, "blocks": 2})
RECIPE = DistillationConfig(epochs=1, augment=False, baseline=False)
QUANT = QuantizationConfig(calibration_samples=32, activation_ranges="minmax", equalization="off")
EXPORT = ExportConfig(formats=["onnx"])  # seconds to convert; the scale benchmark verifies tflite_int8 at scale
# What the larger split may add to the peak: a few evaluation batches' float copies (allocator slack). Holding the
# teacher's view of the extra 1,800 images would take 1,800 x 3 x 224 x 224 x 4 bytes = 1.1 GB; the per-batch
# logits kept in a list added 0.8 GB here (0.7 GB with the old 512-image batches), one array 0-40 MB.
ALLOWED_GROWTH = 4 * EVAL_BYTES


def test_evaluation_batches_are_sized_by_the_view_when_it_resizes_up(tmp_path):
    """A teacher at 224x224 over 32x32 images gets batches whose float input stays within EVAL_BYTES (55 images,
    not 512), and the logits come back whole, in order, the same as one pass over the split."""
    import torch
    from torch import nn

    from edgedistill.pipeline.data.transforms import make_normalizer
    from edgedistill.pipeline.distill.training import eval_rows, evaluate
    from tests.conftest import split_in_store

    x, y = _images(130, seed=2)
    split = split_in_store(x, y, tmp_path / "store")
    view = make_normalizer([0.5] * 3, [0.25] * 3, (TEACHER_SIDE, TEACHER_SIDE))
    assert eval_rows(split, view, 512) == EVAL_BYTES // (3 * TEACHER_SIDE * TEACHER_SIDE * 4) == 55
    assert eval_rows(split, make_normalizer([0.5] * 3, [0.25] * 3), 512) == 512  # at the stored 32x32
    seen: list[int] = []
    torch.manual_seed(0)
    model = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, CLASSES))
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].numel() * 4))
    logits = evaluate(model, split, view, 255.0)
    assert len(seen) == 3 and max(seen) <= EVAL_BYTES
    with torch.no_grad():
        whole = model(view(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0))
    assert logits.shape == (130, CLASSES) and logits.dtype == torch.float32
    assert torch.allclose(logits, whole, atol=1e-5)


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = rng.integers(0, 64, (n, SIDE, SIDE, 3), dtype=np.uint8)
    x[np.arange(n), :, :, y % 3] += (y * 16).astype(np.uint8)[:, None, None]  # the class: one channel's brightness
    return x, y.astype(np.int64)


def _config(root: Path) -> tuple[DataConfig, TeacherConfig]:
    return (
        DataConfig(npz=root / "data.npz", split=SplitConfig(val=0.1, test=0.1)),
        TeacherConfig(onnx=root / "teacher.onnx", input_size=[TEACHER_SIDE, TEACHER_SIDE]),
    )


def _stages(root: Path):
    """Data, teacher, the distilled student and its export (from the stage cache after the first call)."""
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.distill.teacher import load_teacher
    from edgedistill.pipeline.stages import run_stage
    from edgedistill.pipeline.stages.distill import DistillStage
    from edgedistill.pipeline.stages.export import ExportStage
    from edgedistill.pipeline.store.cache import StageCache
    from edgedistill.progress import quiet

    data_cfg, teacher_cfg = _config(root)
    data = load_data(data_cfg, root / "stores")
    teacher = load_teacher(teacher_cfg, data, quiet())
    cache = StageCache(root / "cache")
    student = run_stage(DistillStage(data, teacher, STUDENT, RECIPE, quiet()), cache)
    exported = run_stage(ExportStage(student, data, EXPORT, QUANT, quiet()), cache)
    return data, teacher, student, exported


def verify_in_child(root: str, test_images: str) -> None:
    """Run in a child process: verify over the first `test_images` of the large test store, and print the memory
    (MB) the process held before the stage and its peak while it ran."""
    from edgedistill.benchmarks.suites.scale import TreeMemory, tree_memory_kb
    from edgedistill.pipeline.data.bundle import SourceImages, Split
    from edgedistill.pipeline.stages.verify import VerifyStage
    from edgedistill.pipeline.tasks import get_task
    from edgedistill.progress import quiet

    base = Path(root)
    data, teacher, student, exported = _stages(base)
    n = int(test_images)
    y = np.load(base / "test_labels.npy")[:n]
    test = Split(SourceImages([base / "test_store"]), y, np.arange(n))
    stage = VerifyStage(
        dataclasses.replace(data, test=test), teacher, student, exported, QUANT, get_task("classification"), quiet()
    )
    workdir = base / f"verify{n}"
    workdir.mkdir()
    before = tree_memory_kb(os.getpid())
    with TreeMemory(os.getpid(), interval=0.05) as memory:
        _, result = stage.run(workdir)
    assert result.test_samples == n
    print(json.dumps({"before_mb": before / 1024, "peak_mb": memory.peak_kb / 1024}))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """An .npz of 32x32 images, an ONNX teacher at 224x224, the distilled student exported to ONNX (cached), and a
    store of 2,000 test images."""
    import torch
    from torch import nn

    from edgedistill.export.onnx_export import export_onnx
    from tests.conftest import split_in_store

    root = tmp_path_factory.mktemp("verify-memory")
    x, y = _images(400, seed=0)
    np.savez(root / "data.npz", x=x, y=y)
    torch.manual_seed(0)
    teacher = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=4, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=4, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, CLASSES),
    )
    export_onnx(teacher, (3, TEACHER_SIDE, TEACHER_SIDE), root / "teacher.onnx")
    x, y = _images(LARGE, seed=1)
    split_in_store(x, y, root / "test_store")
    np.save(root / "test_labels.npy", y)
    _stages(root)  # distill and export once, into the stage cache the children read
    return root


def _verify_memory(root: Path, test_images: int) -> dict:
    code = "import sys; from tests.pipeline.stages.test_verify_memory import verify_in_child; verify_in_child(*sys.argv[1:])"
    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(root), str(test_images)], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="measures Pss from /proc (Linux)")
def test_verify_memory_is_bounded_by_the_batch_not_the_test_split(project):
    small, large = _verify_memory(project, SMALL), _verify_memory(project, LARGE)
    grew = (large["peak_mb"] - large["before_mb"]) - (small["peak_mb"] - small["before_mb"])
    detail = f"verify over {SMALL} test images: {small}, over {LARGE}: {large}"
    print(detail)
    assert grew < ALLOWED_GROWTH / 2**20, f"peak grew {grew:.0f} MB with the test split; {detail}"
