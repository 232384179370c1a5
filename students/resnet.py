"""ResNet-8 (MLPerf Tiny image classification): three residual stages; also the example teacher."""

from __future__ import annotations

from torch import nn

from edgedistill.students.layers import GlobalAvgPool, conv_bn_relu, make_divisible
from edgedistill.students.registry import register_student


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(cin, cout, 3, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet8(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, base: int) -> None:
        super().__init__()
        self.stem = conv_bn_relu(in_channels, base, 3)
        self.layer1 = BasicBlock(base, base, 1)
        self.layer2 = BasicBlock(base, base * 2, 2)
        self.layer3 = BasicBlock(base * 2, base * 4, 2)
        self.pool = GlobalAvgPool()
        self.classifier = nn.Linear(base * 4, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.classifier(self.pool(x))


@register_student("resnet8", "ResNet-8 (MLPerf Tiny): 3 residual stages; options: base (channels of stage 1)")
def resnet8(
    *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, width: float = 1.0, base: int = 16
) -> ResNet8:
    del input_size  # fully convolutional with global pooling
    return ResNet8(num_classes, in_channels, make_divisible(base * width))
