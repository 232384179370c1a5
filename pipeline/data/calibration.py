"""The samples int8 quantization calibrates on, and the per-layer error check replays."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from edgedistill.contracts import StudentArch
from edgedistill.pipeline.data.bundle import DataBundle
from edgedistill.pipeline.data.transforms import make_normalizer, to_unit_tensor


def calibration_count(data: DataBundle, count: int) -> int:
    """How many samples calibration_samples gives: `count`, or every training and transfer image if fewer."""
    return min(count, len(data.train) + len(data.transfer))


def calibration_samples(data: DataBundle, arch: StudentArch, count: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """`count` training images, labelled or from the transfer set (a fixed random subset), preprocessed for the
    student, one at a time (read from the stores a few at a time)."""
    pool = data.training_set()
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(pool))[: calibration_count(data, count)])
    normalize = make_normalizer(data.mean, data.std, arch.input_hw)
    for start in range(0, len(idx), 64):
        x = normalize(to_unit_tensor(pool.images.read(pool.rows[idx[start : start + 64]]), data.pixel_max))
        for i in range(len(x)):
            yield x[i : i + 1]
