"""Shared fixtures: tiny real data (scikit-learn's 8x8 digits), a tiny trained teacher, and one
session-wide build of a tiny project through the real `edgedistill` console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# one torch thread: `make test` runs a worker per core, which must not oversubscribe the cores, and a test run alone
# must compute the same floats as under xdist (another thread count sums in another order: another student)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the thread count is set)
import yaml

EDGEDISTILL = [sys.executable, "-m", "edgedistill.cli"]


def run_cli(*args: str, cwd: Path, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    # the user's own caches and device calibrations stay out of the tests
    env = {**os.environ, "EDGEDISTILL_HOME": str(cwd / ".home"), "XDG_CONFIG_HOME": str(cwd / ".config"), **(env or {})}
    return subprocess.run([*EDGEDISTILL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a process group's rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(target, *args, size: int = 2, timeout: float = 300) -> None:
    """Run target(world, *args) in `size` fresh processes joined in a gloo group over loopback (target must be
    importable: a module-level function); every rank must exit cleanly."""
    import multiprocessing

    port = free_port()
    spawn = multiprocessing.get_context("spawn")
    ranks = [spawn.Process(target=_rank_main, args=(target, r, size, port, args)) for r in range(size)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(timeout=timeout)
    assert [p.exitcode for p in ranks] == [0] * size


def _rank_main(target, rank: int, size: int, port: int, args: tuple) -> None:
    """One rank, joined the way a torchrun launch joins (its environment, then join_world)."""
    from edgedistill.pipeline.distill.world import join_world, leave_world

    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    world = join_world("cpu")
    try:
        target(world, *args)
    finally:
        leave_world()


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory) -> Path:
    """The 1,797 real 8x8 digits of scikit-learn as uint8 images 0..255."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images * 16, 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x=x, y=d.target.astype(np.int64))
    return path


TEACHER_FACTORY = "edgedistill.students.resnet:resnet8"
TEACHER_KWARGS = {"num_classes": 10, "in_channels": 1, "input_size": 8, "base": 16}


@pytest.fixture(scope="session")
def digits_teacher(digits_npz, tmp_path_factory) -> Path:
    """A ResNet-8 teacher trained for a few epochs on the digits (its state_dict file)."""
    import torch.nn.functional as F

    from edgedistill.pipeline.config import DataConfig
    from edgedistill.pipeline.data.bundle import load_data
    from edgedistill.pipeline.data.transforms import make_normalizer
    from edgedistill.pipeline.distill.training import fit
    from edgedistill.progress import quiet
    from edgedistill.students.resnet import resnet8

    data = load_data(DataConfig(npz=digits_npz))
    torch.manual_seed(0)  # its initial weights: else they follow whatever tests drew from the RNG before in this worker
    model = resnet8(**TEACHER_KWARGS)
    y = torch.from_numpy(data.train.y)
    fit(
        model,
        train=data.train,
        pixel_max=data.pixel_max,
        loss_fn=lambda logits, idx, _b, _mix: F.cross_entropy(logits, y[idx]),
        val=data.val,
        normalize=make_normalizer(data.mean, data.std),
        epochs=6,
        batch_size=64,
        lr=5e-3,
        weight_decay=5e-4,
        seed=0,
        augment=False,
        progress=quiet(),
        label="teacher",
    )
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    torch.save(model.state_dict(), path)
    return path


def split_in_store(x: np.ndarray, y: np.ndarray, folder: Path):
    """A Split over images written into a real decoded store (uint8 or float NHWC)."""
    from edgedistill.pipeline.data.bundle import SourceImages, Split
    from edgedistill.pipeline.data.store import write_arrays

    folder.mkdir(parents=True, exist_ok=True)
    write_arrays(folder, x, y.astype(np.int64), None)
    return Split(SourceImages([folder]), y.astype(np.int64), np.arange(len(y)))


def tiny_config(npz: Path, teacher: Path, **overrides) -> dict:
    cfg = {
        "name": "digits-test",
        "teacher": {"factory": TEACHER_FACTORY, "kwargs": TEACHER_KWARGS, "checkpoint": str(teacher)},
        "data": {"npz": str(npz)},
        "student": {"name": "dscnn", "options": {"channels": 24, "blocks": 2}},
        "distillation": {"epochs": 12, "augment": False},
        "quantization": {"calibration_samples": 64},
        "benchmark": {"runs": 5, "warmup": 1, "threads": 1},
    }
    for dotted, value in overrides.items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


def write_config(folder: Path, cfg: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "edgedistill.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@dataclass(frozen=True)
class BuiltProject:
    folder: Path
    config: Path
    out: Path  # build/rpi4
    report: dict
    manifest: dict
    first_run: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def built_project(digits_npz, digits_teacher, tmp_path_factory) -> BuiltProject:
    folder = tmp_path_factory.mktemp("project")
    config = write_config(folder, tiny_config(digits_npz, digits_teacher))
    proc = run_cli("build", "--target", "rpi4", cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = folder / "build" / "rpi4"
    return BuiltProject(
        folder,
        config,
        out,
        json.loads((out / "report.json").read_text()),
        json.loads((out / "manifest.json").read_text()),
        proc,
    )


@pytest.fixture
def project_copy(built_project, tmp_path) -> Path:
    """A copy of the built project (config, cache, build/) to change without touching the shared one."""
    dest = tmp_path / "project"
    shutil.copytree(built_project.folder, dest)
    return dest
