"""DS-CNN: the depthwise-separable CNN of MLPerf Tiny keyword spotting, sized for small images."""

from __future__ import annotations

from torch import nn

from edgedistill.students.layers import GlobalAvgPool, conv_bn_relu, make_divisible
from edgedistill.students.registry import register_student


class DSCNN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, channels: int, blocks: int, dropout: float) -> None:
        super().__init__()
        layers = [conv_bn_relu(in_channels, channels, 3, stride=2)]
        for i in range(blocks):
            stride = 2 if i == 1 else 1
            layers.append(conv_bn_relu(channels, channels, 3, stride=stride, groups=channels))  # depthwise
            layers.append(conv_bn_relu(channels, channels, 1))  # pointwise
        self.features = nn.Sequential(*layers)
        self.pool = GlobalAvgPool()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(self.dropout(self.pool(self.features(x))))


@register_student(
    "dscnn", "DS-CNN (MLPerf Tiny style): conv stem + depthwise-separable blocks; options: channels, blocks, dropout"
)
def dscnn(
    *,
    num_classes: int,
    in_channels: int,
    input_size: int,
    width: float = 1.0,
    channels: int = 64,
    blocks: int = 4,
    dropout: float = 0.1,
) -> DSCNN:
    del input_size  # fully convolutional with global pooling: any input size works
    return DSCNN(num_classes, in_channels, make_divisible(channels * width), blocks, dropout)
