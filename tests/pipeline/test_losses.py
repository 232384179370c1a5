from __future__ import annotations

import torch
import torch.nn.functional as F

from edgedistill.pipeline.losses import LOSSES, hinton_kd


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
