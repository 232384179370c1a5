"""Building blocks shared by the architectures; all convert to fully-int8 TFLite."""

from __future__ import annotations

from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of divisor (SIMD-friendly), never below 90% of value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn_relu(
    cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, relu6: bool = False
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True) if relu6 else nn.ReLU(inplace=True),
    )


class GlobalAvgPool(nn.Module):
    """Global average pooling to (N, C); a MEAN op that the int8 converter quantizes."""

    def forward(self, x):
        return x.mean(dim=(2, 3))
