"""Batches from the stores through torch's DataLoader: the main process decides the batches (so the order
and everything drawn from the training seed do not depend on the workers), worker processes (one set for a
whole training run) read them from the memory-mapped stores, and `to_unit` turns them into float NCHW on the
training device.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from edgedistill.pipeline.data.bundle import Split
from edgedistill.pipeline.data.transforms import unit_nchw
from edgedistill.portable import process_context, usable_cpus

SMALL_STORE_BYTES = 64 << 20  # below this a batch is a cheap copy from the page cache: no worker processes


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; musl has none
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _malloc_trim()


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; nothing where there is none).

    Called before forking workers: a forked worker shares the parent's pages, and each one the parent then writes
    (its free heap reused by the next batch) is copied, the worker keeping the old one. Free heap left over from
    earlier work (the teacher's passes over validation images at 224x224) made the distill stage's worker hold
    270-720 MB, by chance of what was free at the fork (the build's peak varied by up to 40% from run to run);
    trimmed first, 210 MB."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
    return max(1, min(8, usable_cpus() // 2))


class _EpochBatches(Sampler):
    """The sampler of a BatchStream: yields the current epoch's batches of positions, set before each epoch."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class BatchStream:
    """(positions in the split, raw uint8/float NHWC images) for batches of a split, over a whole training run.

    With workers, one DataLoader serves every epoch: its worker processes start once and persist (not a new
    pool per epoch), read ahead, and hand batches over in pinned memory when training on CUDA. Each epoch gives
    it that epoch's batches, decided in the main process. Without workers, batches are read here."""

    def __init__(self, split: Split, workers: int, device: torch.device, persistent: bool = True) -> None:
        self._reader = _BatchReader(split)
        self._sampler = _EpochBatches()
        self._loader: DataLoader | None = None
        self._started = False  # whether persistent workers are running
        if workers > 0:
            self._loader = DataLoader(
                self._reader,
                sampler=self._sampler,
                batch_size=None,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                prefetch_factor=4,
                persistent_workers=persistent,
                multiprocessing_context=process_context(),
            )

    def epoch(self, batches: Sequence[np.ndarray]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._loader is None:
            for positions in batches:
                yield self._reader[positions]
            return
        self._sampler.batches = list(batches)
        if not self._started:  # this epoch starts the workers (every epoch, when they do not persist)
            if process_context().get_start_method() == "fork":
                trim_heap()
            self._started = bool(self._loader.persistent_workers)
        yield from self._loader

    def close(self) -> None:
        """Stop the worker processes (they end with the loader's iterator)."""
        self._loader = None


def batches_of(
    split: Split, batches: Sequence[np.ndarray], workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One pass over these batches of positions (a BatchStream used once)."""
    stream = BatchStream(split, workers, device, persistent=False)
    try:
        yield from stream.epoch(batches)
    finally:
        stream.close()


def sequential_batches(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(s, min(s + size, n)) for s in range(0, n, size)]


def to_unit(raw: torch.Tensor, pixel_max: float, device: torch.device) -> torch.Tensor:
    """Raw NHWC images -> float NCHW in [0, 1] on `device` (the same values as transforms.to_unit_tensor)."""
    return unit_nchw(raw.to(device, non_blocking=True), pixel_max)
