from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgedistill.export.equalize import _quantized_weights, equalize
from edgedistill.export.runtimes import load_runtime
from edgedistill.export.tflite_export import export_tflite_int8
from edgedistill.students import build_student


def _random_batchnorm(model: nn.Module) -> nn.Module:
    """Trained-looking BN statistics, so that folding them is part of what is checked."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.1, 4)
            m.weight.data.uniform_(0.1, 3)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("name", ["dscnn", "mobilenetv2", "resnet8"])
def test_equalization_computes_the_same_function_on_the_calibration_samples(name):
    torch.manual_seed(0)
    model = _random_batchnorm(build_student(name, num_classes=10, in_channels=3, input_size=32))
    calibration = [torch.randn(2, 3, 32, 32) for _ in range(8)]
    equalized, report = equalize(model, calibration, bias_correction=False)
    assert report.pairs > 0 and not report.skipped
    assert not any(isinstance(m, nn.BatchNorm2d) for m in equalized.modules())  # folded
    with torch.no_grad():
        for x in calibration:
            expected = model(x)
            assert torch.allclose(equalized(x), expected, atol=1e-4 * float(expected.abs().max()))


def test_a_student_torch_fx_cannot_trace_is_returned_unchanged_with_the_reason():
    model = build_student("mobilenetv3_small", num_classes=10, in_channels=3, input_size=32).eval()
    same, report = equalize(model, [torch.randn(1, 3, 32, 32)])
    assert same is model and report.pairs == 0 and "torch.fx could not trace" in report.skipped


def _pair(activation: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), activation, nn.Conv2d(8, 8, 3, padding=1, groups=8))
    with torch.no_grad():
        model[0].weight.mul_(torch.logspace(-2, 1, 8).view(8, 1, 1, 1))  # output ranges over three decades
    return model.eval()


def test_relu_pairs_end_with_equal_ranges_on_both_sides():
    model = _pair(nn.ReLU())
    equalized, report = equalize(model, [torch.randn(4, 3, 8, 8)], bias_correction=False)
    first, second = (m for m in equalized.modules() if isinstance(m, nn.Conv2d))
    out_ranges = first.weight.detach().abs().flatten(1).amax(1)
    in_ranges = second.weight.detach().abs().flatten(1).amax(1)  # depthwise: input channel i is output channel i
    assert report.pairs == 1
    assert torch.allclose(out_ranges, in_ranges, rtol=1e-4)
    before = model[0].weight.detach().abs().flatten(1).amax(1)
    assert float(out_ranges.max() / out_ranges.min()) < float(before.max() / before.min()) / 10


def test_relu6_channels_whose_samples_reach_the_clip_are_left_as_they_are():
    model = _pair(nn.ReLU6())
    calibration = [torch.randn(4, 3, 8, 8) * 3 for _ in range(4)]
    with torch.no_grad():
        peaks = torch.stack([model[0](x).amax(dim=(0, 2, 3)) for x in calibration]).amax(0)
    clipped = peaks > 6
    assert 0 < int(clipped.sum()) < 8  # the largest channels reach the clip, the small ones do not
    equalized, report = equalize(model, calibration, bias_correction=False)
    first = next(m for m in equalized.modules() if isinstance(m, nn.Conv2d))
    assert report.channels_held == int(clipped.sum())
    held = first.weight[clipped].flatten() / model[0].weight[clipped].flatten()
    assert torch.allclose(held, torch.ones_like(held))  # fused BN is absent here, so held weights are unchanged
    with torch.no_grad():
        for x in calibration:
            assert torch.allclose(equalized(x), model(x), atol=1e-5)


def test_bias_correction_keeps_the_mean_output_of_int8_weights_at_the_fp32_mean():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(16, 8, 1)).eval()  # 1x1, no padding: the correction is exact in expectation
    with torch.no_grad():
        model[0].weight.mul_(torch.rand(8, 16, 1, 1) * 3)
    samples = [torch.randn(8, 16, 6, 6) + torch.linspace(-4, 4, 16).view(1, 16, 1, 1) for _ in range(4)]
    corrected, report = equalize(model, samples)
    assert report.bias_corrected == 1
    conv = next(m for m in corrected.modules() if isinstance(m, nn.Conv2d))
    x = torch.cat(samples)
    with torch.no_grad():
        fp32 = model(x).mean(dim=(0, 2, 3))
        rounded = nn.functional.conv2d(x, _quantized_weights(model[0]), model[0].bias).mean(dim=(0, 2, 3))
        after = nn.functional.conv2d(x, _quantized_weights(conv), conv.bias).mean(dim=(0, 2, 3))
    assert float((after - fp32).abs().max()) < float((rounded - fp32).abs().max()) / 100


def test_equalization_recovers_int8_where_one_channel_dwarfs_the_others(tmp_path):
    """A channel scaled up 300x before a ReLU (and down after it) computes the same function but stretches the
    activation tensor's one int8 range over it: the other channels lose their resolution. Equalization gives it
    back."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 4, 1),
    ).eval()
    with torch.no_grad():
        model[1].weight[0] *= 300.0
        model[1].bias[0] = 0.1 * 300.0
        model[3].weight[0] /= 300.0
    calibration = [torch.randn(1, 3, 16, 16) for _ in range(64)]
    test = torch.randn(16, 3, 16, 16)
    with torch.no_grad():
        reference = model(test).numpy()
    errors = {}
    for name, m in {"plain": model, "equalized": equalize(model, calibration)[0]}.items():
        path = tmp_path / f"{name}.tflite"
        export_tflite_int8(m, (3, 16, 16), calibration, path)
        errors[name] = float(np.abs(load_runtime(path).predict(test.numpy()) - reference).mean() / reference.std())
    assert errors["equalized"] < 0.05 < errors["plain"] / 3
