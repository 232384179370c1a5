"""Which device each training process gets: one GPU per rank, and a one-line refusal for what cannot work."""

from __future__ import annotations

import pytest
import torch

from edgedistill.errors import ConfigError
from edgedistill.pipeline.distill import runtime, world
from edgedistill.pipeline.distill.runtime import resolve_runtime
from edgedistill.pipeline.distill.world import World


@pytest.fixture
def two_gpus(monkeypatch):
    """CUDA mocked as present with two devices (nothing runs on them: resolve_runtime only decides)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def as_rank(monkeypatch, rank: int, size: int = 2) -> None:
    monkeypatch.setattr(world, "_world", World(rank=rank, size=size, local_rank=rank))


@pytest.mark.parametrize("rank", [0, 1])
def test_each_rank_of_a_two_process_run_trains_on_its_own_gpu(two_gpus, monkeypatch, rank):
    as_rank(monkeypatch, rank)
    assert resolve_runtime("cuda").device == torch.device("cuda", rank)
    assert resolve_runtime("auto").device == torch.device("cuda", rank)


@pytest.mark.parametrize("rank", [0, 1])
def test_one_named_gpu_for_two_processes_is_refused_in_one_line(two_gpus, monkeypatch, rank):
    """cuda:1 for every rank would put both on one GPU, where NCCL fails."""
    as_rank(monkeypatch, rank)
    with pytest.raises(ConfigError, match=r"^distillation.device: cuda:1 names one GPU, but 2 training processes") as e:
        resolve_runtime("cuda:1")
    assert "\n" not in str(e.value) and "CUDA_VISIBLE_DEVICES" in str(e.value)


def test_more_processes_than_gpus_is_refused_in_one_line(two_gpus, monkeypatch):
    as_rank(monkeypatch, 2, size=3)
    with pytest.raises(
        ConfigError, match=r"process 2 of this machine has no GPU of its own \(2 CUDA device\(s\) here\)"
    ):
        resolve_runtime("cuda")


def test_one_process_keeps_the_gpu_it_names(two_gpus):
    assert resolve_runtime("cuda:1").device == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"cuda:2 does not exist \(2 CUDA device\(s\)\)"):
        resolve_runtime("cuda:2")


def test_the_apple_gpu_trains_in_one_process(monkeypatch):
    monkeypatch.setattr(runtime, "mps_available", lambda: True)
    assert resolve_runtime("mps").device.type == "mps"
    as_rank(monkeypatch, 0)
    with pytest.raises(ConfigError, match=r"mps trains in one process .*drop --nproc"):
        resolve_runtime("mps")
