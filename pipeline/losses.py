"""Distillation losses, registered by name."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

# loss(student_logits, teacher_logits, labels, temperature, alpha) -> scalar
DistillLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]

LOSSES: dict[str, DistillLoss] = {}


def register_loss(name: str) -> Callable[[DistillLoss], DistillLoss]:
    def decorate(fn: DistillLoss) -> DistillLoss:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        LOSSES[name] = fn
        return fn

    return decorate


@register_loss("hinton")
def hinton_kd(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al. 2015: alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)."""
    soft = F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.log_softmax(teacher / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = F.cross_entropy(student, labels)
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard
