"""Parameter count and multiply-accumulates (MACs) of a model, measured with forward hooks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelProfile:
    params: int
    macs: int


def profile_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelProfile:
    """Count parameters and the MACs of Conv2d and Linear layers for one input of input_shape (C, H, W)."""
    macs = 0

    def conv_hook(module: nn.Conv2d, _inp, out) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += out.numel() // out.shape[0] * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inp, out) -> None:
        nonlocal macs
        macs += out.numel() // out.shape[0] * module.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return ModelProfile(params=sum(p.numel() for p in model.parameters()), macs=int(macs))
