"""MobileNetV2 (Sandler et al. 2018) with width multiplier; strides adapt to small inputs."""

from __future__ import annotations

from torch import nn

from edgedistill.students.layers import GlobalAvgPool, conv_bn_relu, make_divisible
from edgedistill.students.registry import register_student

# expansion t, channels c, repeats n, stride s  (the paper's table 2)
_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn_relu(cin, hidden, 1, relu6=True)]
        layers += [
            conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, relu6=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, input_size: int, width: float, dropout: float) -> None:
        super().__init__()
        # a 224 input is downsampled 32x; small inputs keep stride 1 in the stem (and the first
        # stride-2 stage) so the last feature map is still at least a few pixels across
        downsample_budget = max(1, (input_size // 4).bit_length() - 1)  # log2(input/4), at least 1
        strides_left = downsample_budget
        stem_stride = 2 if input_size >= 64 else 1
        strides_left -= stem_stride == 2
        cin = make_divisible(32 * width)
        layers = [conv_bn_relu(in_channels, cin, 3, stem_stride, relu6=True)]
        for t, c, n, s in _STAGES:
            cout = make_divisible(c * width)
            for i in range(n):
                stride = s if i == 0 and strides_left > 0 else 1
                strides_left -= stride == 2
                layers.append(InvertedResidual(cin, cout, stride, t))
                cin = cout
        last = make_divisible(1280 * max(1.0, width))
        layers.append(conv_bn_relu(cin, last, 1, relu6=True))
        self.features = nn.Sequential(*layers)
        self.pool = GlobalAvgPool()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x):
        return self.classifier(self.dropout(self.pool(self.features(x))))


@register_student("mobilenetv2", "MobileNetV2 with width multiplier (e.g. 0.35); options: dropout")
def mobilenetv2(
    *, num_classes: int, in_channels: int, input_size: int, width: float = 1.0, dropout: float = 0.2
) -> MobileNetV2:
    return MobileNetV2(num_classes, in_channels, input_size, width, dropout)
