from __future__ import annotations

import torch
import torch.nn.functional as F

from edgedistill.pipeline.distill.losses import (
    LOSSES,
    hint_loss,
    hinton_kd,
    labelled_cross_entropy,
    rkd_angle,
    rkd_distance,
)


def test_hinton_is_registered():
    assert LOSSES["hinton"] is hinton_kd


def test_alpha_zero_is_cross_entropy():
    s, t, y = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    assert torch.allclose(hinton_kd(s, t, y, 4.0, 0.0), F.cross_entropy(s, y))


def test_alpha_one_is_t_squared_kl_between_softened_distributions():
    s, t, y = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    T = 3.0
    p_t, p_s = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    assert torch.allclose(hinton_kd(s, t, y, T, 1.0), T * T * kl, atol=1e-6)
    assert hinton_kd(t, t, y, T, 1.0).abs() < 1e-6  # a student that equals its teacher has no soft loss


def test_gradient_pulls_student_towards_teacher():
    t = torch.tensor([[3.0, 0.0, -3.0]])
    s = torch.zeros(1, 3, requires_grad=True)
    hinton_kd(s, t, torch.tensor([0]), 2.0, 1.0).backward()
    assert s.grad[0, 0] < 0 < s.grad[0, 2]


def test_unlabelled_samples_add_no_hard_loss():
    s, y = torch.randn(6, 5), torch.tensor([0, 1, -1, -1, 4, -1])
    assert torch.allclose(labelled_cross_entropy(s, y), F.cross_entropy(s[y >= 0], y[y >= 0], reduction="sum") / 6)
    none = torch.randn(4, 5, requires_grad=True)
    loss = labelled_cross_entropy(none, torch.full((4,), -1))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(none.grad, torch.zeros(4, 5))
    # with no labels, Hinton KD is the soft term alone
    t = torch.randn(4, 5)
    assert torch.allclose(
        hinton_kd(none, t, torch.full((4,), -1), 2.0, 0.7),
        0.7 * hinton_kd(none, t, torch.zeros(4, dtype=torch.long), 2.0, 1.0),
    )


def test_rkd_ignores_scale_and_translation_but_not_structure():
    t = torch.randn(16, 8)
    assert rkd_distance(3.0 * t, t) < 1e-6  # distances are normalised by their mean
    assert rkd_angle(2.0 * t + 5.0, t) < 1e-6  # angles are invariant to scale and shift
    other = torch.randn(16, 8)
    assert rkd_distance(other, t) > 1e-3 and rkd_angle(other, t) > 1e-3
    s = other.clone().requires_grad_(True)
    (rkd_distance(s, t) + rkd_angle(s, t)).backward()
    assert s.grad.abs().sum() > 0


def test_rkd_compares_embeddings_of_different_widths():
    assert rkd_distance(torch.randn(8, 4), torch.randn(8, 32)).isfinite()
    assert rkd_angle(torch.randn(8, 4), torch.randn(8, 32)).isfinite()


def test_hint_loss_is_mean_squared_error():
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.allclose(hint_loss(a, b), ((a - b) ** 2).mean())


def test_pseudo_labels_use_the_true_label_where_there_is_one_else_the_teachers_top1():
    s, t = torch.randn(4, 3), torch.tensor([[0.0, 5.0, 0.0]] * 4)
    y = torch.tensor([2, -1, 0, -1])
    assert torch.allclose(LOSSES["pseudo_labels"](s, t, y, 4.0, 0.9), F.cross_entropy(s, torch.tensor([2, 1, 0, 1])))
