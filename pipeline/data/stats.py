"""Per-channel mean and standard deviation of images, in one streaming pass (Chan et al.'s pairwise merge
of chunk moments in float64), so no float copy of the data set is ever made."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def channel_mean_std(chunks: Iterable[np.ndarray], pixel_max: float) -> tuple[list[float], list[float]]:
    """chunks: raw NHWC image batches. Returns (mean, std) of pixel / pixel_max per channel, as np.mean and
    np.std (population) of all the images together would."""
    count = 0
    mean = m2 = None
    for chunk in chunks:
        x = chunk.astype(np.float64).reshape(-1, chunk.shape[-1]) / pixel_max
        n = len(x)
        if n == 0:
            continue
        c_mean = x.mean(axis=0)
        c_m2 = ((x - c_mean) ** 2).sum(axis=0)
        if mean is None:
            count, mean, m2 = n, c_mean, c_m2
            continue
        total = count + n
        delta = c_mean - mean
        mean = mean + delta * (n / total)
        m2 = m2 + c_m2 + delta**2 * (count * n / total)
        count = total
    if mean is None:
        raise ValueError("no images")
    return [float(v) for v in mean], [float(v) for v in np.sqrt(m2 / count)]
