from __future__ import annotations

import pytest
import torch
from torch import nn

from edgedistill.students import STUDENTS, build_student
from edgedistill.students.layers import make_divisible
from edgedistill.students.profile import profile_model


@pytest.mark.parametrize("name", sorted(STUDENTS))
@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (8, 1)])
def test_every_student_maps_images_to_logits(name, size, channels):
    model = build_student(name, num_classes=7, in_channels=channels, input_size=size, width=0.5).eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 7)


def test_width_multiplier_scales_the_model():
    small = profile_model(
        build_student("mobilenetv2", num_classes=10, in_channels=3, input_size=32, width=0.35), (3, 32, 32)
    )
    big = profile_model(
        build_student("mobilenetv2", num_classes=10, in_channels=3, input_size=32, width=1.0), (3, 32, 32)
    )
    assert small.params < big.params / 2 and small.macs < big.macs / 2


def test_mobilenetv2_keeps_a_feature_map_on_small_inputs():
    model = build_student("mobilenetv2", num_classes=10, in_channels=1, input_size=28, width=0.35)
    feats = model.features(torch.randn(1, 1, 28, 28))
    assert feats.shape[-1] >= 2
    big = build_student("mobilenetv2", num_classes=10, in_channels=3, input_size=224, width=0.35)
    assert big.features(torch.randn(1, 3, 224, 224)).shape[-1] == 7  # the paper's 32x downsampling


def test_profile_counts_conv_and_linear_macs_exactly():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Flatten(), nn.Linear(8 * 10 * 10, 5)
    )
    p = profile_model(model, (3, 10, 10))
    assert p.macs == 10 * 10 * 8 * 3 * 9 + 10 * 10 * 8 * 1 * 9 + 800 * 5
    assert p.params == sum(t.numel() for t in model.parameters())


def test_unknown_student_and_bad_options():
    with pytest.raises(KeyError, match="unknown student 'nope'"):
        build_student("nope", num_classes=2, in_channels=1, input_size=8)
    with pytest.raises(ValueError, match="bad options"):
        build_student("dscnn", num_classes=2, in_channels=1, input_size=8, options={"depth": 3})


def test_make_divisible():
    assert make_divisible(32 * 0.35) == 16 and make_divisible(64) == 64 and make_divisible(3) == 8


def test_mobilenetv3_small_activations_equal_torchs_and_match_the_paper_at_224():
    from edgedistill.students.mobilenetv3 import HardSigmoid, HardSwish

    x = torch.linspace(-6, 6, 97).view(1, 1, 97, 1)
    assert torch.allclose(HardSigmoid()(x), torch.nn.functional.hardsigmoid(x), atol=1e-6)
    assert torch.allclose(HardSwish()(x), torch.nn.functional.hardswish(x), atol=1e-6)
    assert torch.allclose(HardSwish()(x.view(1, 97)), torch.nn.functional.hardswish(x.view(1, 97)), atol=1e-6)
    model = build_student("mobilenetv3_small", num_classes=1000, in_channels=3, input_size=224)
    assert model.features(torch.randn(1, 3, 224, 224)).shape[-1] == 7  # 32x downsampling
    profile = profile_model(model, (3, 224, 224))
    # the paper: 2.5M parameters, 56M multiply-adds at 224x224 (width 1.0)
    assert 2.3e6 < profile.params < 2.7e6 and 50e6 < profile.macs < 65e6
    small = build_student("mobilenetv3_small", num_classes=10, in_channels=1, input_size=28, width=0.5)
    assert small.features(torch.randn(1, 1, 28, 28)).shape[-1] >= 2  # small inputs keep a feature map
    assert not any("three" in k or "sixth" in k for k in model.state_dict())  # constants are not weights
