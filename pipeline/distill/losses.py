"""Distillation losses: the logit losses registered by name (hinton), hard labels that may be
missing (transfer-set samples carry the label -1), feature hints (FitNets) and relational KD (RKD)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from edgedistill.pipeline.data.sources import UNLABELED
from edgedistill.pipeline.distill.views import Mix

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


def labelled_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the samples that have a label (>= 0); 0 for a batch without any.

    Averaged over the whole batch, so a mostly unlabelled batch weighs its few labels less. The unlabelled are
    left out by ignore_index, not by reading a mask on the host (no wait for the GPU, and it runs on the `meta`
    device); a fully labelled batch is the very sum it always was."""
    return F.cross_entropy(logits, labels, reduction="sum", ignore_index=UNLABELED) / len(labels)


def with_mixed_labels(
    loss: Callable[[torch.Tensor], torch.Tensor], labels: torch.Tensor, mix: Mix | None
) -> torch.Tensor:
    """loss(labels); for a mixed batch (mixup, cutmix) share * loss(labels) + (1 - share) * loss(partners' labels),
    the partners' labels gathered on the labels' device (-1 stays -1: an unlabelled partner adds no hard term)."""
    if mix is None:
        return loss(labels)
    return mix.share * loss(labels) + (1 - mix.share) * loss(labels[mix.partner.to(labels.device)])


def mixed_teacher_logits(teacher: torch.Tensor, mix: Mix | None) -> torch.Tensor:
    """Logits for a mixed batch from a teacher that never saw the mix (logits read from a file per sample): the
    log of the mixed probabilities."""
    if mix is None:
        return teacher
    p = F.softmax(teacher.float(), dim=1)
    mixed = mix.share * p + (1 - mix.share) * p[mix.partner.to(p.device)]
    return mixed.clamp_min(1e-12).log()


@register_loss("hinton")
def hinton_kd(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """Hinton et al. 2015: alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y).

    The soft term covers every sample; the hard term only those with a label (see labelled_cross_entropy)."""
    soft = F.kl_div(
        F.log_softmax(student / temperature, dim=1),
        F.log_softmax(teacher / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    hard = labelled_cross_entropy(student, labels)
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard


def hint_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
    """FitNets: mean squared error between the adapted student feature and the teacher's."""
    return F.mse_loss(student_feature, teacher_feature)


def _pairwise_distances(e: torch.Tensor) -> torch.Tensor:
    sq = e.pow(2).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * e @ e.t()).clamp_min(1e-12).sqrt()
    return d * (1 - torch.eye(len(e), device=e.device))


def rkd_distance(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """RKD-D (Park et al. 2019): smooth L1 between pairwise distances, each normalised by its mean."""
    s, t = student.flatten(1), teacher.flatten(1)
    with torch.no_grad():
        td = _pairwise_distances(t)
        td = td / _mean_of_positive(td)
    sd = _pairwise_distances(s)
    sd = sd / _mean_of_positive(sd)
    return F.smooth_l1_loss(sd, td)


def _mean_of_positive(d: torch.Tensor) -> torch.Tensor:
    """Mean of a distance matrix's positive entries, computed without a data-dependent shape (no host sync)."""
    positive = d > 0
    return (d * positive).sum() / positive.sum()


def _triplet_cosines(e: torch.Tensor) -> torch.Tensor:
    diff = F.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)  # diff[i, j] = unit vector from i to j
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()  # cos of the angle at i between j and k


def rkd_angle(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """RKD-A (Park et al. 2019): smooth L1 between the angles every triplet of embeddings forms."""
    with torch.no_grad():
        t = _triplet_cosines(teacher.flatten(1))
    return F.smooth_l1_loss(_triplet_cosines(student.flatten(1)), t)


@register_loss("pseudo_labels")
def pseudo_labels(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """Hard pseudo-labels: cross-entropy against the true label where there is one, else the teacher's top-1.

    The plain self-training baseline that soft targets should be compared with; temperature and alpha do not apply."""
    del temperature, alpha
    targets = torch.where(labels >= 0, labels, teacher.argmax(dim=1))
    return F.cross_entropy(student, targets)
