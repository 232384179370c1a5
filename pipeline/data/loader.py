"""Batches from the stores through torch's DataLoader: the main process decides the batches (so the order
and everything drawn from the training seed do not depend on the workers), worker processes read them
from the memory-mapped stores, and `to_unit` turns them into float NCHW on the training device.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from edgedistill.pipeline.data.bundle import Split

SMALL_STORE_BYTES = 64 << 20  # below this a batch is a cheap copy from the page cache: no worker processes


class _BatchReader(Dataset):
    """dataset[positions] -> (positions, raw images of those rows): one item is one whole batch."""

    def __init__(self, split: Split) -> None:
        self.images, self.rows = split.images, split.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        positions = np.asarray(positions, np.int64)
        return torch.from_numpy(positions), torch.from_numpy(self.images.read(self.rows[positions]))


def loader_workers(requested: int | None, split: Split, device: torch.device) -> int:
    """Worker processes for a loader: as asked (data.workers), else none for a small split on the CPU (the copy
    is cheaper than the hand-over), else up to half the CPUs this process may use (at most 8)."""
    if requested is not None:
        return requested
    item = int(np.prod(split.images.item_shape)) * split.images.dtype.itemsize
    if device.type == "cpu" and item * len(split) < SMALL_STORE_BYTES:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cpus // 2))


def batches_of(
    split: Split, batches: Sequence[np.ndarray], workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(positions in the split, raw uint8/float NHWC images) for each batch of positions, read ahead by workers."""
    if workers == 0:
        reader = _BatchReader(split)
        for positions in batches:
            yield reader[positions]
        return
    loader = DataLoader(
        _BatchReader(split),
        sampler=list(batches),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4,
    )
    yield from loader


def sequential_batches(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]


def to_unit(raw: torch.Tensor, pixel_max: float, device: torch.device) -> torch.Tensor:
    """Raw NHWC images -> float NCHW in [0, 1] on `device` (the same values as transforms.to_unit_tensor)."""
    return raw.to(device, non_blocking=True).permute(0, 3, 1, 2).contiguous().float() / pixel_max
