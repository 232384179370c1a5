"""MobileNetV3-small (Howard et al. 2019) with width multiplier; strides adapt to small inputs.

Hard-sigmoid and hard-swish are written as relu6(x + 3) * (1/6) and x * relu6(x + 3) * (1/6) (ADD
with a fused RELU6, MUL): the int8 quantizer has no rule for HARD_SWISH / hardsigmoid and would leave
them (and the squeeze-excite around them) in float, while these elementwise ops all quantize.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.students.layers import GlobalAvgPool, make_divisible
from edgedistill.students.registry import register_student

# kernel, expanded channels, out channels, squeeze-excite, hard-swish (else ReLU), stride  (the paper's table 2)
_BLOCKS = [
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
]


class HardSigmoid(nn.Module):
    """relu6(x + 3) * (1/6), in ops the int8 converter quantizes and keeps channel-last.

    Measured with litert-torch 0.10 PT2E: torch's hardsigmoid and a division by 6 leave float ops
    (DEQUANTIZE ... QUANTIZE) in the int8 model; Python-scalar constants convert fully integer but
    wrap each ADD/MUL in two TRANSPOSEs; 4-D constants keep the ops in NHWC with no TRANSPOSE."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("three", torch.full((1, 1, 1, 1), 3.0), persistent=False)
        self.register_buffer("sixth", torch.full((1, 1, 1, 1), 1.0 / 6.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three, sixth = self.three, self.sixth
        if x.dim() == 2:  # after the classifier head's Linear
            three, sixth = three.view(1, 1), sixth.view(1, 1)
        return F.relu6(x + three) * sixth


class HardSwish(nn.Module):
    """x * relu6(x + 3) / 6, in ops the int8 converter quantizes."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def conv_bn_act(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, hswish: bool = False
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        HardSwish() if hswish else nn.ReLU(inplace=True),
    )


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = make_divisible(channels / 4)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # stays 4-D: no RESHAPE around the squeeze
        return x * self.gate(self.expand(self.relu(self.reduce(s))))


class InvertedResidualSE(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int, se: bool, hswish: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if hidden == cin else [conv_bn_act(cin, hidden, 1, hswish=hswish)]
        layers.append(conv_bn_act(hidden, hidden, kernel, stride, groups=hidden, hswish=hswish))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV3Small(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, input_size: int, width: float, dropout: float) -> None:
        super().__init__()
        # 224 inputs are downsampled 32x; small inputs spend fewer stride-2 steps (the stem's first)
        strides_left = max(1, (input_size // 4).bit_length() - 1)  # log2(input/4), at least 1
        stem_stride = 2 if input_size >= 64 else 1
        strides_left -= stem_stride == 2
        cin = make_divisible(16 * width)
        layers: list[nn.Module] = [conv_bn_act(in_channels, cin, 3, stem_stride, hswish=True)]
        for kernel, expanded, out, se, hswish, s in _BLOCKS:
            stride = s if strides_left > 0 else 1
            strides_left -= stride == 2
            cout = make_divisible(out * width)
            layers.append(InvertedResidualSE(cin, make_divisible(expanded * width), cout, kernel, stride, se, hswish))
            cin = cout
        last = make_divisible(576 * width)
        layers.append(conv_bn_act(cin, last, 1, hswish=True))
        self.features = nn.Sequential(*layers)
        self.pool = GlobalAvgPool()
        head = make_divisible(1024 * max(1.0, width))
        self.head = nn.Sequential(nn.Linear(last, head), HardSwish(), nn.Dropout(dropout))
        self.classifier = nn.Linear(head, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.pool(self.features(x))))


@register_student(
    "mobilenetv3_small", "MobileNetV3-small with squeeze-excite and hard-swish (int8-friendly form); options: dropout"
)
def mobilenetv3_small(
    *, num_classes: int, in_channels: int, input_size: int, width: float = 1.0, dropout: float = 0.2
) -> MobileNetV3Small:
    return MobileNetV3Small(num_classes, in_channels, input_size, width, dropout)
