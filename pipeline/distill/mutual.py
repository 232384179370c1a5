"""Deep mutual learning (Zhang et al., CVPR 2018): a cohort of students trained together, each on its own loss
(the labels, and the teacher's soft targets when it has one) plus the mean KL divergence from each peer's
softened outputs to its own. The peers' outputs are targets (no gradient flows into a peer through another's
term), so summing the members' losses gives every member the gradient of its own.

The cohort is one module: it takes images in [0, 1] (NCHW), gives each member its own view (its input size,
the data's mean/std) and returns the members' logits side by side, (N, members, classes); one optimizer, one
schedule and one checkpoint train them all with the loop every student trains with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.pipeline.distill.losses import labelled_cross_entropy
from edgedistill.pipeline.distill.training import accuracy

View = Callable[[torch.Tensor], torch.Tensor]


class UnitView:
    """The cohort's input as the training loop hands it over: images in [0, 1], unchanged (each member views them
    itself). `size` is the largest member view's, so evaluation batches are sized for the largest copy made."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Cohort(nn.Module):
    def __init__(self, members: Sequence[nn.Module], views: Sequence[View]) -> None:
        super().__init__()
        if len(members) < 2 or len(members) != len(views):
            raise ValueError("a cohort needs two or more members, each with its view")
        self.members = nn.ModuleList(members)
        self.views = list(views)

    def forward(self, unit: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(view(unit)) for member, view in zip(self.members, self.views, strict=True)], dim=1)

    def unit_view(self) -> UnitView:
        sizes = [tuple(getattr(view, "size", None) or ()) for view in self.views]
        return UnitView(max((s for s in sizes if len(s) == 2), key=lambda s: s[0] * s[1], default=(0, 0)))


def peer_divergence(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Each member's mean KL(peer_T || member_T) over its peers, times T^2 (so the gradient's scale does not
    shrink with T), summed over the members; logits (N, members, classes), peers detached."""
    log_p = F.log_softmax(logits.float() / temperature, dim=2)
    targets = log_p.detach()
    members = logits.shape[1]
    total = logits.new_zeros((), dtype=torch.float32)
    for k in range(members):
        for j in range(members):
            if j != k:
                kl = F.kl_div(log_p[:, k], targets[:, j], reduction="batchmean", log_target=True)
                total = total + kl / (members - 1)
    return temperature**2 * total


def cohort_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    weight: float,
    own: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = labelled_cross_entropy,
) -> torch.Tensor:
    """The cohort's loss: every member's own loss (own(member_logits, labels): the labelled cross-entropy, or a
    distillation loss that closes over the teacher's outputs) plus weight times its mean KL to its peers."""
    members = logits.shape[1]
    mine = sum((own(logits[:, k].float(), labels) for k in range(members)), logits.new_zeros((), dtype=torch.float32))
    return mine + weight * peer_divergence(logits, temperature)


def member_accuracies(logits: torch.Tensor | np.ndarray, labels: np.ndarray) -> list[float]:
    """Top-1 accuracy (%) of each member, from the cohort's logits (N, members, classes)."""
    out = np.asarray(logits)
    return [accuracy(out[:, k], labels) for k in range(out.shape[1])]


def best_member_accuracy(logits: torch.Tensor | np.ndarray, labels: np.ndarray) -> float:
    """The cohort's validation score: its best member's accuracy (the member that ships)."""
    return max(member_accuracies(logits, labels))
