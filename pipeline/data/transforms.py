"""From raw images to what a model takes: [0, 1] scaling, resizing to a model's view, mean/std normalisation.

The data path owns these; the training loop, calibration, verification and the manifest all use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from edgedistill.pipeline.data.bundle import DataBundle


def unit_nchw(raw: torch.Tensor, pixel_max: float) -> torch.Tensor:
    """Raw NHWC images -> float NCHW in [0, 1] on raw's device (before mean/std normalisation). One float copy,
    scaled in place: raw (possibly a view of the store) is never written."""
    nchw = raw.permute(0, 3, 1, 2)
    return nchw.to(torch.float32, memory_format=torch.contiguous_format, copy=True).div_(pixel_max)


def to_unit_tensor(raw: np.ndarray, pixel_max: float) -> torch.Tensor:
    """Raw NHWC images (an array) -> float NCHW tensor in [0, 1], see unit_nchw."""
    return unit_nchw(torch.from_numpy(raw), pixel_max)


class Normalizer:
    """A model's view of images in [0, 1] (NCHW): resized to `size` (H, W) when given, then (x - mean) / std per
    channel. The constants follow the batch: they are copied to a batch's device once and kept there, so one
    normaliser serves batches on the CPU, CUDA, MPS or the `meta` device (a CPU constant may not meet them)."""

    def __init__(self, mean: list[float], std: list[float], size: tuple[int, int] | None = None) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.size = tuple(size) if size is not None else None
        self._placed: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def constants(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) on `device`, copied there the first time it is asked for."""
        if device not in self._placed:
            self._placed[device] = (self.mean.to(device), self.std.to(device))
        return self._placed[device]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        mean, std = self.constants(x.device)
        return (x - mean).div_(std)  # one copy of the batch, not two


def make_normalizer(mean: list[float], std: list[float], size: tuple[int, int] | None = None) -> Normalizer:
    return Normalizer(mean, std, size)


def preprocess(raw: np.ndarray, data: DataBundle, size: tuple[int, int] | None = None) -> np.ndarray:
    """Raw NHWC images -> normalised float32 NCHW, resized to size (H, W) when given.

    The very transform the student was trained with.
    """
    return make_normalizer(data.mean, data.std, size)(to_unit_tensor(raw, data.pixel_max)).numpy()


def resize_images(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = size
    out = []
    for img in raw:
        squeeze = img.shape[-1] == 1
        arr = img[..., 0] if squeeze else img
        mode = "F" if arr.dtype != np.uint8 else None
        pil = Image.fromarray(arr.astype(np.float32) if mode else arr, mode=mode)
        res = np.asarray(pil.resize((w, h), Image.BILINEAR)).astype(raw.dtype)
        out.append(res[..., None] if squeeze else res)
    return np.stack(out)


# the largest float32 copy of a chunk: at 64 MiB the copies made on the way (at 224x224 before resizing to 96x96)
# swung the verify stage's memory by 125 MB, and a longer test split caught a higher swing
PREPROCESSED_CHUNK_BYTES = 16 << 20


def preprocessed_chunk(image_shape: tuple[int, int, int], size: tuple[int, int]) -> int:
    """Images per chunk so that the largest float32 copy made on the way (at the stored size before resizing,
    or at the view after) stays near PREPROCESSED_CHUNK_BYTES, whichever side is larger."""
    h, w, c = image_shape
    return max(1, PREPROCESSED_CHUNK_BYTES // (4 * c * max(h * w, size[0] * size[1])))


def preprocessed_batches(split, data: DataBundle, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """A split as the student takes it (normalised float32 NCHW at `size`), in order, in chunks whose float
    copies stay near 16 MiB whatever the split's length (see preprocessed_chunk)."""
    chunk = preprocessed_chunk(tuple(data.image_shape), size)
    for _, raw in split.batches(chunk):
        yield preprocess(raw, data, size)
