"""The views a training batch is augmented into, on the training device: random shifts and left-right flips
(the default), and the stronger views of consistent teaching (Beyer et al., CVPR 2022, "Knowledge distillation: a
good teacher is patient and consistent"): random resized crops, colour jitter, mixup and cutmix.

Every random draw comes from the training loop's CPU generator and is moved to the batch's device, so a run is
reproducible whatever the device and nothing reads a device tensor back (a step runs on the `meta` device too).
In a distributed world each rank holds a shard of the batch: draws are made for the whole batch and the shard
takes its rows, so every rank's generator stays in step; mixing partners are drawn within the shard.

The teacher is run on the batch after these views (see kd_batch_loss): the student and the teacher see the very
same crop, colours and mix. Hard labels of a mixed batch are mixed by the same share (`Mix`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Share = tuple[int, slice]  # (whole batch size, this rank's slice of it)


@dataclass(frozen=True)
class ViewPolicy:
    shift: bool = True  # random shifts of up to 1/14 of the shorter side
    hflip: bool = False
    crop: float | None = None  # random resized crop: the smallest share of the area kept
    color: float = 0.0  # brightness, contrast (and saturation) factors drawn from [1 - color, 1 + color]
    mixup: float = 0.0  # Beta(mixup, mixup) share of each image's own content; 0: off
    cutmix: float = 0.0  # Beta(cutmix, cutmix) share kept outside the pasted box; 0: off

    @property
    def active(self) -> bool:
        """Whether batches change from one epoch to the next (the teacher must then run on every batch)."""
        return self.shift or self.hflip or self.crop is not None or self.color > 0 or self.mixes

    @property
    def mixes(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0


@dataclass(frozen=True)
class Mix:
    """How a batch was mixed: image i holds `share` of itself and 1 - share of image partner[i] (positions within
    the batch), so its hard label counts `share` for its own class and 1 - share for its partner's."""

    partner: torch.Tensor  # int64, on the CPU (it indexes the batch's positions and labels)
    share: float


def shift_for(height: int, width: int) -> int:
    """Random-shift range fit for the image size: 1/14 of the shorter side (2 px at 28x28), at least 1 px."""
    return max(1, round(min(height, width) / 14))


def random_shift(
    x: torch.Tensor, max_shift: int, generator: torch.Generator, share: Share | None = None
) -> torch.Tensor:
    """Shift every image in an NCHW batch by up to max_shift pixels in x and y, filling with zeros."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    whole, part = share or (n, slice(None))
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (whole, 2), generator=generator)[part]
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


def random_flip(x: torch.Tensor, generator: torch.Generator, share: Share | None = None) -> torch.Tensor:
    whole, part = share or (len(x), slice(None))
    flip = (torch.rand(whole, generator=generator) < 0.5)[part]
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)


def random_resized_crop(
    x: torch.Tensor, min_area: float, generator: torch.Generator, share: Share | None = None
) -> torch.Tensor:
    """Each image becomes a crop of between min_area of its area and all of it, at an aspect ratio between 3/4 and
    4/3 (clipped to the image), anywhere in it, resized back to the image's size (bilinear)."""
    n = len(x)
    whole, part = share or (n, slice(None))
    area = min_area + (1 - min_area) * torch.rand(whole, generator=generator)[part]
    log_ratio = (torch.rand(whole, generator=generator)[part] * 2 - 1) * math.log(4 / 3)
    ratio = log_ratio.exp()
    sx = (area * ratio).sqrt().clamp(max=1.0)  # the crop's width and height as shares of the image's
    sy = (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(whole, generator=generator)[part] * 2 - 1) * (1 - sx)  # centre, in [-1, 1] coordinates
    cy = (torch.rand(whole, generator=generator)[part] * 2 - 1) * (1 - sy)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, sy, cy
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_jitter(
    x: torch.Tensor, strength: float, generator: torch.Generator, share: Share | None = None
) -> torch.Tensor:
    """Brightness, contrast and (3 channels) saturation, each scaled by a factor drawn from [1 - s, 1 + s] per
    image, in that order, clipped to [0, 1]."""
    n = len(x)
    whole, part = share or (n, slice(None))

    def factors() -> torch.Tensor:
        drawn = 1 + (torch.rand(whole, generator=generator)[part] * 2 - 1) * strength
        return drawn.to(x.device, x.dtype)[:, None, None, None]

    brightness, contrast, saturation = factors(), factors(), factors()
    x = (x * brightness).clamp(0, 1)
    grey = x.mean(dim=1, keepdim=True) if x.shape[1] == 1 else _luma(x)
    x = ((x - grey.mean(dim=(2, 3), keepdim=True)) * contrast + grey.mean(dim=(2, 3), keepdim=True)).clamp(0, 1)
    if x.shape[1] == 3:
        grey = _luma(x)
        x = ((x - grey) * saturation + grey).clamp(0, 1)
    return x


def _luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _beta(alpha: float, generator: torch.Generator) -> float:
    """A draw from Beta(alpha, alpha), seeded from the training generator (torch's Beta takes no generator)."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _partners(n: int, generator: torch.Generator, share: Share | None) -> torch.Tensor:
    """A random pairing of the batch's (or shard's) positions: the same draws on every rank, a permutation of this
    shard's rows."""
    whole, part = share or (n, slice(None))
    return torch.argsort(torch.rand(whole, generator=generator)[part])


def mix_batch(
    x: torch.Tensor, policy: ViewPolicy, generator: torch.Generator, share: Share | None = None
) -> tuple[torch.Tensor, Mix | None]:
    """Mixup or cutmix (one of them at random when both are on), one share for the whole batch (as timm does)."""
    if not policy.mixes:
        return x, None
    use_cutmix = policy.cutmix > 0 and (policy.mixup <= 0 or float(torch.rand(1, generator=generator)) < 0.5)
    partner = _partners(len(x), generator, share)
    other = x[partner.to(x.device)]
    if not use_cutmix:
        share_own = _beta(policy.mixup, generator)
        return x * share_own + other * (1 - share_own), Mix(partner, share_own)
    h, w = x.shape[-2:]
    cut = math.sqrt(1 - _beta(policy.cutmix, generator))  # the box's side as a share of the image's
    bh, bw = round(h * cut), round(w * cut)
    cy, cx = (int(v) for v in torch.randint(0, 1 << 30, (2,), generator=generator))
    top, left = cy % (h - bh + 1), cx % (w - bw + 1)
    mixed = x.clone()
    mixed[:, :, top : top + bh, left : left + bw] = other[:, :, top : top + bh, left : left + bw]
    return mixed, Mix(partner, 1 - bh * bw / (h * w))


def apply_views(
    x: torch.Tensor, policy: ViewPolicy, generator: torch.Generator, share: Share | None = None
) -> tuple[torch.Tensor, Mix | None]:
    """The batch (NCHW in [0, 1]) as this step's views: crop, shift, flip, colour, then mixing."""
    if policy.crop is not None:
        x = random_resized_crop(x, policy.crop, generator, share)
    if policy.shift:
        x = random_shift(x, shift_for(*x.shape[-2:]), generator, share)
    if policy.hflip:
        x = random_flip(x, generator, share)
    if policy.color > 0:
        x = colour_jitter(x, policy.color, generator, share)
    return mix_batch(x, policy, generator, share)
