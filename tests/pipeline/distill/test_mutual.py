from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from edgedistill.pipeline.data.sources import UNLABELED
from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.mutual import Cohort, best_member_accuracy, cohort_loss, peer_divergence
from edgedistill.students import build_student


def test_each_member_is_pulled_towards_its_peers_and_only_through_its_own_term():
    torch.manual_seed(0)
    a, b = torch.randn(6, 5, requires_grad=True), torch.randn(6, 5, requires_grad=True)
    peer_divergence(torch.stack([a, b], dim=1), temperature=2.0).backward()

    def pulled(own: torch.Tensor, peer: torch.Tensor) -> torch.Tensor:
        """4 * KL(peer_T || own_T), differentiated for own alone: the peer is a target."""
        own = own.detach().requires_grad_()
        kl = F.kl_div(
            F.log_softmax(own / 2, 1), F.log_softmax(peer.detach() / 2, 1), reduction="batchmean", log_target=True
        )
        (4 * kl).backward()
        return own.grad

    assert torch.allclose(a.grad, pulled(a, b), atol=1e-6) and torch.allclose(b.grad, pulled(b, a), atol=1e-6)
    same = torch.randn(4, 1, 3).expand(4, 3, 3)
    assert peer_divergence(same, 1.0).item() < 1e-6  # a cohort that agrees has nothing to learn from itself


def test_unlabelled_images_count_through_the_peers_alone():
    logits = torch.randn(4, 2, 3)
    unlabelled = torch.full((4,), UNLABELED)
    assert torch.allclose(
        cohort_loss(logits, unlabelled, temperature=1.0, weight=0.5), 0.5 * peer_divergence(logits, 1.0)
    )
    labels = torch.tensor([0, 1, 2, 0])
    own = sum(F.cross_entropy(logits[:, k], labels) for k in range(2))
    assert torch.allclose(cohort_loss(logits, labels, temperature=1.0, weight=0.0), own)


def test_members_of_other_architectures_and_input_sizes_each_see_their_own_view():
    torch.manual_seed(0)
    members = [
        build_student("dscnn", num_classes=4, in_channels=3, input_size=12, options={"channels": 8, "blocks": 1}),
        build_student("resnet8", num_classes=4, in_channels=3, input_size=8, options={"base": 4}),
    ]
    views = [make_normalizer([0.5] * 3, [0.25] * 3, (12, 12)), make_normalizer([0.4] * 3, [0.2] * 3, (8, 8))]
    cohort = Cohort(members, views).eval()
    unit = torch.rand(3, 3, 16, 16)
    out = cohort(unit)
    assert out.shape == (3, 2, 4)
    for k in range(2):
        assert torch.allclose(out[:, k], members[k](views[k](unit)))
    assert cohort.unit_view().size == (12, 12) and cohort.unit_view()(unit) is unit


def test_the_cohort_is_scored_by_its_best_member():
    labels = np.array([0, 1, 2, 3])
    right = np.eye(4)[labels]
    wrong = np.eye(4)[(labels + 1) % 4]
    half = np.concatenate([right[:2], wrong[2:]])
    assert best_member_accuracy(np.stack([wrong, half, right], axis=1), labels) == 100.0
    assert best_member_accuracy(np.stack([wrong, half], axis=1), labels) == 50.0
