"""The held-out zoo: models the latency predictor is judged on and never fitted to.

Each is written here and nowhere else (the students and the calibration's micro-benchmarks are other code), in
the families users bring: MobileNetV1/V2/V3, an EfficientNet-like net with swish, squeeze-excite and TF "same"
padding, a ResNet-18-like net, DS-CNN, a squeeze-excite ResNet, an MLP-mixer-like net, a ShuffleNetV2-like net
(channel split and shuffle), a SqueezeNet-like net (concatenations, a softmax output) and an FPN-like net
(bilinear upsampling). Each at two input sizes, converted to fp32 and to int8 by the exporters that build
students. Weights are random: latency does not depend on their values.

The list is frozen: `ZOO_SHA256` (benchmarks/latency/zoo.sha256) is the hash of this file, and a test fails when
they differ, so that a change to the held-out models is a visible, deliberate commit, never a quiet tuning of
what the predictor is judged on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HASH_FILE = Path(__file__).with_name("zoo.sha256")


def definitions_hash() -> str:
    """sha256 of this file: the zoo's definitions and its list."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def frozen_hash() -> str:
    return HASH_FILE.read_text().split()[0]


def _cbr(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act())


def _ch(c: float) -> int:
    return max(8, int(c + 4) // 8 * 8)


class _Classifier(nn.Module):
    def __init__(self, features: nn.Module, channels: int, classes: int = 1000, softmax: bool = False) -> None:
        super().__init__()
        self.features, self.fc, self.softmax = features, nn.Linear(channels, classes), softmax

    def forward(self, x):
        y = self.fc(self.features(x).mean((2, 3)))
        return torch.softmax(y, 1) if self.softmax else y


def mobilenet_v1(width: float) -> nn.Module:
    spec = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers, cin = [_cbr(3, _ch(32 * width), s=2)], _ch(32 * width)
    for cout, stride in spec:
        cout = _ch(cout * width)
        layers += [_cbr(cin, cin, 3, stride, cin, nn.ReLU6), _cbr(cin, cout, 1, act=nn.ReLU6)]
        cin = cout
    return _Classifier(nn.Sequential(*layers), cin)


class _Inverted(nn.Module):
    def __init__(self, cin, cout, stride, expand, k=3, act=nn.ReLU6, se=None, same_pad=False):
        super().__init__()
        mid = cin * expand
        self.expand = _cbr(cin, mid, 1, act=act) if expand != 1 else nn.Identity()
        self.same_pad = same_pad and stride == 2
        pad = 0 if self.same_pad else k // 2
        self.dw = nn.Sequential(nn.Conv2d(mid, mid, k, stride, pad, groups=mid, bias=False), nn.BatchNorm2d(mid), act())
        self.k = k
        self.se = se(mid) if se else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x)
        if self.same_pad:  # TF "same" for a stride of 2: the extra row and column at the end
            y = F.pad(y, (self.k // 2 - 1, self.k // 2, self.k // 2 - 1, self.k // 2))
        y = self.project(self.se(self.dw(y)))
        return x + y if self.residual else y


def mobilenet_v2(width: float) -> nn.Module:
    spec = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    cin = _ch(32 * width)
    layers: list[nn.Module] = [_cbr(3, cin, s=2, act=nn.ReLU6)]
    for t, c, n, s in spec:
        for i in range(n):
            layers.append(_Inverted(cin, _ch(c * width), s if i == 0 else 1, t))
            cin = _ch(c * width)
    layers.append(_cbr(cin, 1280, 1, act=nn.ReLU6))
    return _Classifier(nn.Sequential(*layers), 1280)


class _HardSE(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, _ch(c / 4), 1), nn.Conv2d(_ch(c / 4), c, 1)

    def forward(self, x):
        s = F.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * F.hardsigmoid(self.expand(s))


class _SigmoidSE(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, max(8, c // 4), 1), nn.Conv2d(max(8, c // 4), c, 1)

    def forward(self, x):
        s = F.silu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(self.expand(s))


def mobilenet_v3(width: float) -> nn.Module:
    # (kernel, expansion, out, squeeze-excite, hard-swish, stride): MobileNetV3-Large
    spec = [
        (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
        (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
        (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
        (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1), (5, 672, 160, True, True, 2),
        (5, 960, 160, True, True, 1),
    ]  # fmt: skip
    cin = 16
    layers: list[nn.Module] = [_cbr(3, cin, s=2, act=nn.Hardswish)]
    for k, exp, out, se, hs, s in spec:
        mid, cout = _ch(exp * width), _ch(out * width)
        act = nn.Hardswish if hs else nn.ReLU
        block = [_cbr(cin, mid, 1, act=act)] if mid != cin else []
        block += [_cbr(mid, mid, k, s, mid, act)] + ([_HardSE(mid)] if se else [])
        block += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        layers.append(_Residual(nn.Sequential(*block)) if s == 1 and cin == cout else nn.Sequential(*block))
        cin = cout
    layers.append(_cbr(cin, _ch(960 * width), 1, act=nn.Hardswish))
    return _Classifier(nn.Sequential(*layers), _ch(960 * width))


class _Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def efficientnet_swish(width: float) -> nn.Module:
    """EfficientNet-B0's layout: swish, squeeze-excite with a sigmoid, TF same padding on strided convolutions."""
    spec = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3), (6, 112, 3, 1, 5),
            (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]  # fmt: skip
    cin = _ch(32 * width)
    layers: list[nn.Module] = [_cbr(3, cin, s=2, act=nn.SiLU)]
    for t, c, n, s, k in spec:
        for i in range(n):
            cout = _ch(c * width)
            layers.append(_Inverted(cin, cout, s if i == 0 else 1, t, k, nn.SiLU, _SigmoidSE, same_pad=True))
            cin = cout
    layers.append(_cbr(cin, _ch(1280 * width), 1, act=nn.SiLU))
    return _Classifier(nn.Sequential(*layers), _ch(1280 * width))


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, se: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _cbr(cin, cout, 3, stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        )
        self.se = _SigmoidSE(cout) if se else nn.Identity()
        self.short = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x):
        return F.relu(self.se(self.body(x)) + self.short(x))


def resnet18(width: float, se: bool = False) -> nn.Module:
    c = [_ch(v * width) for v in (64, 128, 256, 512)]
    layers: list[nn.Module] = [_cbr(3, c[0], 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = c[0]
    for i, cout in enumerate(c):
        layers += [_Basic(cin, cout, 1 if i == 0 else 2, se), _Basic(cout, cout, 1, se)]
        cin = cout
    return _Classifier(nn.Sequential(*layers), cin)


def ds_cnn(width: float) -> nn.Module:
    """DS-CNN (Hello Edge) for keyword spotting on MFCC frames (1 x time x coefficients)."""
    c = _ch(172 * width)
    layers: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(1, c, (10, 4), 2, (5, 1), bias=False), nn.BatchNorm2d(c), nn.ReLU())
    ]
    for _ in range(4):
        layers += [_cbr(c, c, 3, 1, c), _cbr(c, c, 1)]
    return _Classifier(nn.Sequential(*layers), c, classes=12)


class _Mixer(nn.Module):
    def __init__(self, tokens: int, channels: int) -> None:
        super().__init__()
        self.token = nn.Sequential(nn.Linear(tokens, tokens * 2), nn.ReLU(), nn.Linear(tokens * 2, tokens))
        self.channel = nn.Sequential(nn.Linear(channels, channels * 4), nn.ReLU(), nn.Linear(channels * 4, channels))

    def forward(self, x):  # (N, tokens, channels)
        x = x + self.token(x.transpose(1, 2)).transpose(1, 2)
        return x + self.channel(x)


class _MixerNet(nn.Module):
    def __init__(self, size: int, patch: int, channels: int, depth: int) -> None:
        super().__init__()
        tokens = (size // patch) ** 2
        self.stem = nn.Conv2d(3, channels, patch, patch)
        self.blocks = nn.Sequential(*[_Mixer(tokens, channels) for _ in range(depth)])
        self.fc = nn.Linear(channels, 1000)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)
        return self.fc(self.blocks(t).mean(1))


class _Shuffle(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        half = cout // 2
        self.stride = stride
        side_in = cin if stride == 2 else half
        self.branch = nn.Sequential(
            _cbr(side_in, half, 1), _cbr(half, half, 3, stride, half, nn.Identity), _cbr(half, half, 1)
        )
        self.side = nn.Sequential(_cbr(cin, cin, 3, 2, cin, nn.Identity), _cbr(cin, half, 1)) if stride == 2 else None

    def forward(self, x):
        if self.side is None:
            a, b = x.chunk(2, 1)
            y = torch.cat([a, self.branch(b)], 1)
        else:
            y = torch.cat([self.side(x), self.branch(x)], 1)
        n, c, h, w = y.shape
        return y.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def shufflenet_v2(width: float) -> nn.Module:
    stages = [_ch(c * width) for c in (116, 232, 464)]
    layers: list[nn.Module] = [_cbr(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 24
    for cout, repeats in zip(stages, (4, 8, 4)):
        layers += [_Shuffle(cin, cout, 2)] + [_Shuffle(cout, cout, 1) for _ in range(repeats - 1)]
        cin = cout
    layers.append(_cbr(cin, 1024, 1))
    return _Classifier(nn.Sequential(*layers), 1024)


class _Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = _cbr(cin, squeeze, 1)
        self.e1, self.e3 = _cbr(squeeze, expand, 1), _cbr(squeeze, expand, 3)

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], 1)


def squeezenet(width: float) -> nn.Module:
    fires = [(16, 64), (16, 64), (32, 128), None, (32, 128), (48, 192), (48, 192), (64, 256), None, (64, 256)]
    layers: list[nn.Module] = [_cbr(3, _ch(64 * width), 3, 2), nn.MaxPool2d(3, 2, 1)]
    cin = _ch(64 * width)
    for fire in fires:
        if fire is None:
            layers.append(nn.MaxPool2d(3, 2, 1))
            continue
        layers.append(_Fire(cin, _ch(fire[0] * width), _ch(fire[1] * width)))
        cin = 2 * _ch(fire[1] * width)
    return _Classifier(nn.Sequential(*layers), cin, softmax=True)


class _FPN(nn.Module):
    """A small encoder, a top-down path with bilinear upsampling, and a head on the finest level."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c = [_ch(v * width) for v in (32, 64, 128, 256)]
        self.stem = _cbr(3, c[0], 3, 2)
        self.down = nn.ModuleList([_cbr(a, b, 3, 2) for a, b in zip(c[:-1], c[1:])])
        self.lateral = nn.ModuleList([nn.Conv2d(ch, 64, 1) for ch in c])
        self.smooth = _cbr(64, 64, 3)
        self.fc = nn.Linear(64, 1000)

    def forward(self, x):
        levels = [self.stem(x)]
        for down in self.down:
            levels.append(down(levels[-1]))
        top = self.lateral[-1](levels[-1])
        for level, lateral in zip(reversed(levels[:-1]), reversed(list(self.lateral)[:-1])):
            top = lateral(level) + F.interpolate(top, size=level.shape[-2:], mode="bilinear", align_corners=False)
        return self.fc(self.smooth(top).mean((2, 3)))


@dataclass(frozen=True)
class ZooModel:
    family: str
    width: float
    input_shape: tuple[int, int, int]  # C, H, W

    @property
    def name(self) -> str:
        c, h, w = self.input_shape
        return f"{self.family}_w{self.width:g}_{h}x{w}"

    def module(self) -> nn.Module:
        if self.family == "mixer":
            return _MixerNet(self.input_shape[1], 8, _ch(128 * self.width), 4)
        if self.family == "fpn":
            return _FPN(self.width)
        if self.family == "se_resnet":
            return resnet18(self.width, se=True)
        return _BUILDERS[self.family](self.width)


_BUILDERS = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3": mobilenet_v3,
    "efficientnet_swish": efficientnet_swish,
    "resnet18": resnet18,
    "ds_cnn": ds_cnn,
    "shufflenet_v2": shufflenet_v2,
    "squeezenet": squeezenet,
}


def _rgb(side: int) -> tuple[int, int, int]:
    return (3, side, side)


ZOO: tuple[ZooModel, ...] = (
    ZooModel("mobilenet_v1", 0.5, _rgb(128)),
    ZooModel("mobilenet_v1", 0.5, _rgb(192)),
    ZooModel("mobilenet_v2", 0.75, _rgb(96)),
    ZooModel("mobilenet_v2", 0.75, _rgb(160)),
    ZooModel("mobilenet_v3", 0.75, _rgb(96)),
    ZooModel("mobilenet_v3", 0.75, _rgb(160)),
    ZooModel("efficientnet_swish", 0.5, _rgb(128)),
    ZooModel("efficientnet_swish", 0.5, _rgb(192)),
    ZooModel("resnet18", 0.5, _rgb(96)),
    ZooModel("resnet18", 0.5, _rgb(160)),
    ZooModel("ds_cnn", 1.0, (1, 49, 10)),
    ZooModel("ds_cnn", 1.0, (1, 98, 40)),
    ZooModel("se_resnet", 0.25, _rgb(64)),
    ZooModel("se_resnet", 0.25, _rgb(128)),
    ZooModel("mixer", 1.0, _rgb(64)),
    ZooModel("mixer", 1.0, _rgb(128)),
    ZooModel("shufflenet_v2", 0.5, _rgb(96)),
    ZooModel("shufflenet_v2", 0.5, _rgb(160)),
    ZooModel("squeezenet", 0.5, _rgb(96)),
    ZooModel("squeezenet", 0.5, _rgb(160)),
    ZooModel("fpn", 0.5, _rgb(96)),
    ZooModel("fpn", 0.5, _rgb(160)),
)


def build_zoo(folder: Path, dtypes: tuple[str, ...] = ("float32", "int8")) -> list[Path]:
    """Every zoo model converted in each dtype into folder (a file already there is reused), in ZOO order."""
    from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_int8

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in ZOO:
        for dtype in dtypes:
            path = folder / f"{entry.name}_{dtype}.tflite"
            if not path.is_file():
                torch.manual_seed(0)
                model = entry.module().eval()
                if dtype == "int8":
                    calibration = [torch.randn(1, *entry.input_shape) for _ in range(4)]
                    export_tflite_int8(model, entry.input_shape, calibration, path, log=folder / "convert.log")
                else:
                    export_tflite_fp32(model, entry.input_shape, path, log=folder / "convert.log")
            paths.append(path)
    return paths
