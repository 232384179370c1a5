"""Images synthesized from a teacher, for distillation without its data: model inversion by BatchNorm statistics
(DeepInversion, Yin et al., CVPR 2020; ZeroQ's "distilled data", Cai et al., CVPR 2020).

A batch of images starts as noise and is optimised so that the teacher sees it as its training data: every
BatchNorm layer's batch mean and variance match the running statistics the teacher learned, the teacher gives
each image the class it was assigned (class-balanced), and image priors (total variation, L2) keep it smooth.
Each step sees a randomly shifted (and, where the task allows, flipped) view, so that no single pixel grid is
fitted. Images live in [0, 1] (the pipeline's unit scale) and the teacher sees them through its own normaliser.
The settings are data.synthetic's (SyntheticConfig: its defaults are those measured on the bundled MNIST teacher,
see the README); only the optimisation's fields are read here.

A teacher without BatchNorm running statistics (an ONNX graph, whose BN is folded into its convolutions; logits
read from a file) has nothing to invert: `bn_layers` says so in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.errors import EdgeDistillError
from edgedistill.pipeline.config import SyntheticConfig

Scores = Callable[[torch.Tensor], torch.Tensor]  # images in [0, 1] (NCHW) -> the teacher's class scores


def bn_layers(teacher: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The teacher's BatchNorm layers that keep running statistics; one line when it has none."""
    layers = [
        m
        for m in teacher.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.running_mean is not None
    ]
    if not layers:
        raise EdgeDistillError(
            "the teacher has no BatchNorm running statistics to synthesize images from (a graph with BatchNorm "
            "folded into its convolutions, such as an ONNX export, or logits from a file, has none): give real "
            "images, or a PyTorch teacher with its BatchNorm layers"
        )
    return layers


class BatchNormStatistics:
    """While active, every forward pass adds, per BatchNorm layer, the distance between the batch's per-channel
    mean and variance at that layer's input and the layer's running ones (L2 norms, summed over layers)."""

    def __init__(self, layers: list[nn.modules.batchnorm._BatchNorm]) -> None:
        self.layers = layers
        self.terms: list[torch.Tensor] = []

    def _hook(self, module: nn.modules.batchnorm._BatchNorm, inputs: tuple[torch.Tensor, ...], _output) -> None:
        x = inputs[0]
        dims = [d for d in range(x.dim()) if d != 1]  # every axis but the channels
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        assert module.running_mean is not None and module.running_var is not None
        self.terms.append(
            torch.linalg.vector_norm(mean - module.running_mean) + torch.linalg.vector_norm(var - module.running_var)
        )

    @contextmanager
    def active(self) -> Iterator[BatchNormStatistics]:
        handles = [layer.register_forward_hook(self._hook) for layer in self.layers]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def take(self) -> torch.Tensor:
        """The summed distance of the forward pass just made, and a clean slate for the next."""
        total = torch.stack(self.terms).sum()
        self.terms = []
        return total


def balanced_labels(count: int, num_classes: int, start: int = 0) -> torch.Tensor:
    """count labels cycling through the classes from `start`: every class as often as the others, to one."""
    return (torch.arange(count) + start) % num_classes


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def inversion_loss(
    scores: Scores,
    statistics: BatchNormStatistics,
    view: torch.Tensor,
    labels: torch.Tensor,
    settings: SyntheticConfig,
) -> torch.Tensor:
    """What a step minimises on one view of the batch (pixels in [0, 1])."""
    logits = scores(view)
    bn = statistics.take()
    prior = settings.tv_weight * total_variation(view) + settings.l2_weight * view.pow(2).flatten(1).sum(1).mean()
    return F.cross_entropy(logits, labels) + settings.bn_weight * bn + prior


def random_view(x: torch.Tensor, rng: np.random.Generator, settings: SyntheticConfig) -> torch.Tensor:
    """x shifted by up to settings.jitter pixels each way (wrapping around), mirrored at random if allowed."""
    dy, dx = (int(v) for v in rng.integers(-settings.jitter, settings.jitter + 1, 2))
    view = torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if dy or dx else x
    return torch.flip(view, dims=(3,)) if settings.flip and rng.random() < 0.5 else view


def synthesize_batch(
    teacher: nn.Module,
    scores: Scores,
    labels: torch.Tensor,
    shape: tuple[int, int, int],
    settings: SyntheticConfig,
    device: torch.device,
    seed: int,
    on_step: Callable[[], None] = lambda: None,
) -> torch.Tensor:
    """len(labels) images of shape (C, H, W) in [0, 1], synthesized on `device` from the teacher module (in eval
    mode, left unchanged) whose class scores for images in [0, 1] `scores` gives (its view: resize and
    normalisation; its head); returned on that device, detached."""
    teacher = teacher.eval()
    statistics = BatchNormStatistics(bn_layers(teacher))
    generator = torch.Generator().manual_seed(seed)
    start = (0.5 + 0.2 * torch.randn(len(labels), *shape, generator=generator)).clamp_(0, 1)
    x = start.to(device).requires_grad_(True)
    labels = labels.to(device)
    optimizer = torch.optim.Adam([x], lr=settings.lr, betas=(0.5, 0.9), foreach=False)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps)
    rng = np.random.default_rng(seed)
    frozen = [p for p in teacher.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with statistics.active():
            for _ in range(settings.steps):
                loss = inversion_loss(scores, statistics, random_view(x, rng, settings), labels, settings)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                with torch.no_grad():
                    x.clamp_(0, 1)
                on_step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return x.detach()
