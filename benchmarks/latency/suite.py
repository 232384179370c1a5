"""The calibration's benchmark models: small .tflite models, each built so that one op dominates its time, over
shapes and channel counts drawn at random from the ranges classification networks use, at int8 and float32;
and real layers: the first blocks of the registry's students, and networks written here of the blocks users'
models are made of (inverted residuals with squeeze-excite, SiLU or hard-swish and TF padding; ShuffleNet units;
ResNet basic blocks, gated or not; MLP-Mixer blocks).

A family per op the converters emit for common architectures: convolutions (1x1, kxk, a 3-channel stem, TF
"same" padding), depthwise convolutions, fully connected layers (after a pooling, and over tokens),
activations as users write them (hard-swish, SiLU, sigmoid, hard-sigmoid: SiLU leaves a float island with
DEQUANTIZE and QUANTIZE in an int8 model), squeeze-excite gates (MEAN and a broadcast MUL), elementwise ADD and
MUL chains, transposes and channel shuffles, PAD, concatenations, channel splits (SLICE), softmax, bilinear
resizes and max pooling. A unary op follows a MUL or a convolution, so that the int8 exporter quantizes it as
it does in a real network. Converted with the exporters that build students, so each holds the ops a
student's model holds. The held-out zoo (zoo.py) is other code and never fitted to.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.fsutil import write_json

SIDES = (3, 5, 6, 7, 10, 12, 14, 20, 24, 28, 40, 48, 56, 80, 96, 112)
CHANNELS = (8, 16, 24, 32, 48, 64, 96, 128, 144, 192, 240, 288, 384, 480, 576, 672, 960, 1280)
MAX_MACS = 150e6  # larger kernels cost minutes to measure and small networks rarely hold them
MAX_ACTIVATION = 112 * 112 * 96  # elements, of any tensor the model holds


@dataclass(frozen=True)
class KernelSpec:
    family: str
    side: int
    cin: int
    cout: int
    kernel: int = 1
    stride: int = 1
    dtype: str = "int8"
    variant: str = ""  # the family's variant: an activation, same padding, a student's name

    @property
    def name(self) -> str:
        variant = f"_{self.variant}" if self.variant else ""
        return (
            f"{self.family}{variant}_s{self.side}_c{self.cin}-{self.cout}_k{self.kernel}_st{self.stride}_{self.dtype}"
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.cin, self.side, self.side)

    def macs(self) -> float:
        out = (self.side // self.stride) ** 2
        if self.family in ("conv", "stem"):
            return out * self.cin * self.cout * self.kernel**2
        if self.family == "depthwise":
            return out * self.cin * self.kernel**2
        if self.family == "tokens_fc":
            return 2 * self.side**2 * self.cin * self.cout
        if self.family == "pool_fc":
            return self.cin * self.cout + self.side**2 * self.cin
        if self.family == "head":
            return self.side**2 * self.cin * self.cout + self.cout * 1000
        return self.side**2 * self.cin * 4

    def largest_activation(self) -> int:
        grows = {"concat": 4, "resize": 4, "tokens_fc": max(1, self.cout // max(self.cin, 1))}
        return self.side**2 * max(self.cin, self.cout) * grows.get(self.family, 1)

    def module(self) -> nn.Module:
        if self.family == "layers":
            return random_network(self) if network_style(self.variant) else student_prefix(self)
        return _BUILDERS[self.family](self)


Draw = Callable[[np.random.Generator, str], KernelSpec]
_BUILDERS: dict[str, Callable[[KernelSpec], nn.Module]] = {}
_DRAWS: dict[str, Draw] = {}
WEIGHTS: dict[str, int] = {}  # draws of a family per unit of per_family: more where networks spend their time


def family(name: str, draw: Draw, weight: int = 1):
    """Register a family's module builder, with how its shapes are drawn."""

    def register(build: Callable[[KernelSpec], nn.Module]) -> Callable[[KernelSpec], nn.Module]:
        _BUILDERS[name], _DRAWS[name], WEIGHTS[name] = build, draw, weight
        return build

    return register


def _side(rng: np.random.Generator, smallest: int = 3) -> int:
    return int(rng.choice([s for s in SIDES if s >= smallest]))


def _channels(rng: np.random.Generator, most: int = 1280) -> int:
    return int(rng.choice([c for c in CHANNELS if c <= most]))


class _Lambda(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], *children: nn.Module) -> None:
        super().__init__()
        self.fn, self.parts = fn, nn.ModuleList(children)

    def forward(self, x):
        return self.fn(x)


class _Gate(nn.Module):
    """Squeeze-excite: the channels pooled, squeezed to `squeezed` by a 1x1 convolution, ReLU, a 1x1 convolution
    back, and `fn` (a sigmoid or hard-sigmoid) scaling each channel of the input."""

    def __init__(self, channels: int, squeezed: int, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.reduce, self.restore, self.fn = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1), fn

    def forward(self, x):
        return x * self.fn(self.restore(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))


def _conv_draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
    kernel = int(rng.choice([1, 3]))  # as many kxk as 1x1: with a third, kxk had fewer models than coefficients
    side = _side(rng)
    stride = int(rng.choice([1, 1, 2])) if side > 3 else 1
    variant = "same" if kernel == 3 and stride == 2 and rng.random() < 0.3 else ""
    if kernel == 1:
        return KernelSpec("conv", side, _channels(rng), _channels(rng), kernel, stride, dtype, variant)
    # a network's kxk convolution mostly keeps its width or doubles it (a ResNet's stages, from 16 channels up):
    # drawn freely, most were wide, whose efficiency small networks' convolutions do not reach
    cin = _channels(rng, 512)
    cout = int(rng.choice([cin, cin, 2 * cin, _channels(rng)]))
    return KernelSpec("conv", side, cin, cout, kernel, stride, dtype, variant)


def _same_pad(x: torch.Tensor) -> torch.Tensor:
    """TF "same" padding for a stride of 2 and an even input: the extra row and column at the end (the converter
    makes it the convolution's own SAME padding; torch's symmetric padding at a stride of 2 is what leaves an
    explicit PAD before a convolution)."""
    return F.pad(x, (0, 1, 0, 1))


@family("conv", _conv_draw, weight=6)
def _conv(spec: KernelSpec) -> nn.Module:
    if spec.variant == "same":
        conv = nn.Conv2d(spec.cin, spec.cout, spec.kernel, spec.stride, 0)
        return _Lambda(lambda x: F.relu6(conv(_same_pad(x))), conv)
    return nn.Sequential(nn.Conv2d(spec.cin, spec.cout, spec.kernel, spec.stride, spec.kernel // 2), nn.ReLU6())


def _stem_draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
    side = int(rng.choice([16, 20, 28, 32, 48, 64, 96, 128, 160, 192, 224]))  # from keyword spotting to ImageNet
    cin, kernel = int(rng.choice([1, 3])), int(rng.choice([3, 3, 5, 7]))
    stride = int(rng.choice([1, 2, 2])) if side <= 64 and kernel == 3 else 2  # CIFAR-sized networks keep the size
    return KernelSpec("stem", side, cin, int(rng.choice([8, 16, 24, 32, 48, 64])), kernel, stride, dtype)


@family("stem", _stem_draw, weight=3)
def _stem(spec: KernelSpec) -> nn.Module:
    """A network's first convolution, on 1 (grayscale, spectrograms) or 3 channels: with 1, the converter makes
    it a depthwise convolution with a channel multiplier."""
    return nn.Sequential(nn.Conv2d(spec.cin, spec.cout, spec.kernel, spec.stride, spec.kernel // 2), nn.ReLU6())


def _depthwise_draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
    stride = int(rng.choice([1, 1, 2]))
    variant = "same" if stride == 2 and rng.random() < 0.3 else ""
    c = _channels(rng)
    return KernelSpec("depthwise", _side(rng, 5), c, c, int(rng.choice([3, 3, 5])), stride, dtype, variant)


@family("depthwise", _depthwise_draw, weight=2)
def _depthwise(spec: KernelSpec) -> nn.Module:
    if spec.variant == "same":
        conv = nn.Conv2d(spec.cin, spec.cin, spec.kernel, spec.stride, 0, groups=spec.cin)
        return _Lambda(lambda x: F.relu6(conv(_same_pad(x))), conv)
    conv = nn.Conv2d(spec.cin, spec.cin, spec.kernel, spec.stride, spec.kernel // 2, groups=spec.cin)
    return nn.Sequential(conv, nn.ReLU6())


def _pool_fc_draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
    side = int(rng.choice(SIDES[:8]))
    return KernelSpec("pool_fc", side, _channels(rng), int(rng.choice([2, 10, 100, 1000])), dtype=dtype)


@family("pool_fc", _pool_fc_draw)
def _pool_fc(spec: KernelSpec) -> nn.Module:
    fc = nn.Linear(spec.cin, spec.cout)
    return _Lambda(lambda x: fc(x.mean((2, 3))), fc)


def _head_draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
    classes = int(rng.choice([100, 1000]))
    cin = int(rng.choice([c for c in CHANNELS if c >= 240]))
    cout = int(rng.choice([768, 1024, 1280]))
    return KernelSpec("head", int(rng.choice([1, 3, 5, 7])), cin, cout, dtype=dtype, variant=f"classes{classes}")


@family("head", _head_draw, weight=2)
def _head(spec: KernelSpec) -> nn.Module:
    """A classifier head: a wide 1x1 convolution, pooling and a fully connected layer over many classes, the
    megabytes of weights that leave the caches."""
    conv = nn.Conv2d(spec.cin, spec.cout, 1)
    fc = nn.Linear(spec.cout, int(spec.variant.removeprefix("classes")))
    return _Lambda(lambda x: fc(F.hardswish(conv(x)).mean((2, 3))), conv, fc)


def _tokens_draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
    side = int(rng.choice([3, 4, 6, 8, 12, 16, 24]))
    cin = _channels(rng, 384)
    return KernelSpec("tokens_fc", side, cin, cin * int(rng.choice([1, 2, 4])), dtype=dtype)


@family("tokens_fc", _tokens_draw)
def _tokens_fc(spec: KernelSpec) -> nn.Module:
    """An MLP over tokens (the channels of each position), as transformers and mixers hold."""
    up, down = nn.Linear(spec.cin, spec.cout), nn.Linear(spec.cout, spec.cin)
    return _Lambda(lambda x: down(F.relu(up(x.flatten(2).transpose(1, 2)))), up, down)


def _elementwise_draw(name: str, variants: tuple[str, ...] = ("",), smallest: int = 3) -> Draw:
    def draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
        c = _channels(rng, 576)
        return KernelSpec(name, _side(rng, smallest), c, c, dtype=dtype, variant=str(rng.choice(variants)))

    return draw


@family("add", _elementwise_draw("add"))
def _add(spec: KernelSpec) -> nn.Module:
    def chain(x):
        a = x * x
        b = a + x
        c = b + a
        return c + b

    return _Lambda(chain)


@family("mul", _elementwise_draw("mul"))
def _mul(spec: KernelSpec) -> nn.Module:
    def chain(x):
        a = x * x
        b = a * x
        return b * a

    return _Lambda(chain)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "hardswish": nn.Hardswish,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "hardsigmoid": nn.Hardsigmoid,
    "gelu": nn.GELU,  # transformers' and mixers'
}


# SiLU drawn twice as often: the activation of EfficientNets and YOLO detectors, whose int8 float island (DEQUANTIZE,
# LOGISTIC, MUL, QUANTIZE) is four kernels to fit
@family("act", _elementwise_draw("act", (*ACTIVATIONS, "silu")), weight=4)
def _activation(spec: KernelSpec) -> nn.Module:
    """A depthwise convolution and an activation, twice: how activations sit in a network."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers += [nn.Conv2d(spec.cin, spec.cin, 3, 1, 1, groups=spec.cin), ACTIVATIONS[spec.variant]()]
    return nn.Sequential(*layers)


@family("se", _elementwise_draw("se", ("sigmoid", "hardsigmoid")), weight=2)
def _squeeze_excite(spec: KernelSpec) -> nn.Module:
    c = spec.cin
    dw = nn.Conv2d(c, c, 3, 1, 1, groups=c)
    return nn.Sequential(dw, _Gate(c, max(8, c // 4), torch.sigmoid if spec.variant == "sigmoid" else F.hardsigmoid))


def _even_draw(name: str, variants: tuple[str, ...] = ("",)) -> Draw:
    inner = _elementwise_draw(name, variants, smallest=6)

    def draw(rng: np.random.Generator, dtype: str) -> KernelSpec:
        spec = inner(rng, dtype)
        side = spec.side + spec.side % 2
        return KernelSpec(name, side, spec.cin, spec.cout, dtype=dtype, variant=spec.variant)

    return draw


@family("transpose", _even_draw("transpose", ("hw", "shuffle")))
def _transpose(spec: KernelSpec) -> nn.Module:
    def forward(x):
        a = x * x
        if spec.variant == "hw":
            return a * a.transpose(2, 3)
        n, c, h, w = a.shape  # a channel shuffle of two groups, as ShuffleNet's
        return a.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w) * 1.5

    return _Lambda(forward)


@family("pad", _elementwise_draw("pad"))
def _pad(spec: KernelSpec) -> nn.Module:
    def forward(x):
        a = F.pad(x * x, (1, 1, 1, 1)) * 1.5
        return F.pad(a, (0, 1, 0, 1)) * 1.5

    return _Lambda(forward)


@family("concat", _elementwise_draw("concat"))
def _concat(spec: KernelSpec) -> nn.Module:
    def forward(x):
        a = torch.cat([x * x, x * 1.5], 1)
        return torch.cat([a, a * a], 1) * 1.5

    return _Lambda(forward)


@family("slice", _even_draw("slice"))
def _slice(spec: KernelSpec) -> nn.Module:
    def forward(x):
        a = x * x
        half = a.shape[1] // 2
        return a[:, :half] * a[:, half:]

    return _Lambda(forward)


@family("softmax", _elementwise_draw("softmax"))
def _softmax(spec: KernelSpec) -> nn.Module:
    return _Lambda(lambda x: torch.softmax((x * x).flatten(1), 1))


@family("resize", _elementwise_draw("resize"))
def _resize(spec: KernelSpec) -> nn.Module:
    return _Lambda(lambda x: F.interpolate(x * x, scale_factor=2, mode="bilinear", align_corners=False) * 1.5)


@family("maxpool", _even_draw("maxpool", ("k3", "k2")))
def _maxpool(spec: KernelSpec) -> nn.Module:
    if spec.variant == "k3":
        return _Lambda(lambda x: F.max_pool2d(x * x, 3, 2, 1))
    return _Lambda(lambda x: F.max_pool2d(x * x, 2, 2))


FAMILIES = tuple(_BUILDERS)

# real layers: the first `depth` blocks of a registry student (side: input size, cout: width in percent)
STUDENT_DEPTHS = {"mobilenetv2": 19, "mobilenetv3_small": 13, "dscnn": 9, "resnet8": 4}
# and networks written here, of the blocks users' models are made of (variant STYLE + seed, kernel: blocks)
NETWORK_STYLES = {"inverted": 12, "shuffle": 12, "residual": 8, "mixer": 6}  # style -> most blocks
NETWORK_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu6": nn.ReLU6,
    "hardswish": nn.Hardswish,
    "silu": nn.SiLU,
}
NETWORK_GATES: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
    "none": None,
    "sigmoid": torch.sigmoid,
    "hardsigmoid": F.hardsigmoid,
}


def _rounded(c: float) -> int:
    """Channels rounded to a multiple of 8 (at least 8), as networks scale their widths."""
    return max(8, int(c + 4) // 8 * 8)


class _InvertedBlock(nn.Module):
    """A 1x1 expansion, a depthwise convolution (TF "same" padding when strided and asked, else symmetric), an
    optional squeeze-excite gate, a 1x1 projection, and the residual where the shapes allow: the block of
    MobileNetV2/V3 and EfficientNet."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, act, gate, same: bool) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1), act()) if expand > 1 else nn.Identity()
        self.same, self.kernel = same and stride == 2, kernel
        padding = 0 if self.same else kernel // 2
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, kernel, stride, padding, groups=hidden), act())
        self.gate = _Gate(hidden, _rounded(hidden / 4), gate) if gate is not None else None
        self.project = nn.Conv2d(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x)
        if self.same:  # TF pads the extra row and column at the end
            total = self.kernel - 2 + y.shape[-1] % 2
            y = F.pad(y, (total // 2, total - total // 2, total // 2, total - total // 2))
        y = self.depthwise(y)
        if self.gate is not None:
            y = self.gate(y)
        y = self.project(y)
        return x + y if self.residual else y


class _ShuffleBlock(nn.Module):
    """ShuffleNetV2's unit: at a stride of 1 half the channels pass and the other half goes through a 1x1, a
    depthwise 3x3 and a 1x1; at a stride of 2 both halves are convolved; then a concatenation and a channel shuffle
    of two groups."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, half = stride, cout // 2
        into = cin if stride == 2 else cin // 2
        self.branch = nn.Sequential(
            nn.Conv2d(into, half, 1),
            nn.ReLU(),
            nn.Conv2d(half, half, 3, stride, 1, groups=half),
            nn.Conv2d(half, half, 1),
            nn.ReLU(),
        )
        if stride == 2:
            self.bypass = nn.Sequential(nn.Conv2d(cin, cin, 3, 2, 1, groups=cin), nn.Conv2d(cin, half, 1), nn.ReLU())

    def forward(self, x):
        if self.stride == 2:
            y = torch.cat([self.bypass(x), self.branch(x)], 1)
        else:
            half = x.shape[1] // 2
            y = torch.cat([x[:, :half], self.branch(x[:, half:])], 1)
        n, c, h, w = y.shape
        return y.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


class _BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions, an optional squeeze-excite gate on the second's output, and the
    shortcut (a strided 1x1 convolution where the shape changes) added before the activation."""

    def __init__(self, cin: int, cout: int, stride: int, gate) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1))
        self.gate = _Gate(cout, _rounded(cout / 4), gate) if gate is not None else None
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        y = self.body(x)
        if self.gate is not None:
            y = self.gate(y)
        return F.relu(y + self.shortcut(x))


class _Tokens(nn.Module):
    """(N, C, H, W) patches as (N, tokens, channels)."""

    def forward(self, x):
        return x.flatten(2).transpose(1, 2)


class _MixerBlock(nn.Module):
    """MLP-Mixer's block over (N, tokens, channels): an MLP across the tokens (on the transposed tensor) and one
    across the channels, each added back."""

    def __init__(self, tokens: int, channels: int, token_growth: float, channel_growth: int, act) -> None:
        super().__init__()
        hidden = max(8, int(tokens * token_growth))
        self.token = nn.Sequential(nn.Linear(tokens, hidden), act(), nn.Linear(hidden, tokens))
        self.channel = nn.Sequential(
            nn.Linear(channels, channels * channel_growth), act(), nn.Linear(channels * channel_growth, channels)
        )

    def forward(self, x):
        x = x + self.token(x.transpose(1, 2)).transpose(1, 2)
        return x + self.channel(x)


def _residual_network(spec: KernelSpec, rng: np.random.Generator) -> list[nn.Module]:
    """A ResNet of basic blocks (optionally gated): a CIFAR-style 3x3 stem that keeps the size, or an ImageNet
    one (7x7 at a stride of 2 and a max pooling); widths double where the size halves, up to 512."""
    gate = NETWORK_GATES[str(rng.choice(["none", "none", "sigmoid"]))]
    c = _rounded(int(rng.choice([16, 32, 64])) * spec.cout / 100)
    if spec.side <= 64 and rng.random() < 0.5:
        layers: list[nn.Module] = [nn.Conv2d(spec.cin, c, 3, 1, 1), nn.ReLU()]
        side = spec.side
    else:
        layers = [nn.Conv2d(spec.cin, c, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        side = -(-spec.side // 4)
    for _ in range(spec.kernel):
        stride = 2 if side >= 4 and rng.random() < 0.4 else 1
        cout = min(2 * c, 512) if stride == 2 else c
        layers.append(_BasicBlock(c, cout, stride, gate))
        c, side = cout, -(-side // stride)
    return layers


def _mixer_network(spec: KernelSpec, rng: np.random.Generator) -> list[nn.Module]:
    """An MLP-Mixer: a patch embedding (a convolution with a stride of its kernel) and mixer blocks."""
    patch = int(rng.choice([p for p in (4, 8, 16) if (spec.side // p) ** 2 <= 256]))  # at most 256 tokens
    channels = _rounded(int(rng.choice([64, 128, 256])) * spec.cout / 100)
    act = nn.GELU if rng.random() < 0.5 else nn.ReLU
    token_growth, channel_growth = float(rng.choice([0.5, 1.0, 2.0])), int(rng.choice([2, 4]))
    tokens = (spec.side // patch) ** 2
    blocks = [_MixerBlock(tokens, channels, token_growth, channel_growth, act) for _ in range(spec.kernel)]
    return [nn.Conv2d(spec.cin, channels, patch, patch), _Tokens(), *blocks]


def network_style(variant: str) -> tuple[str, int] | None:
    """(style, seed) of a written network's variant ('inverted17'), None for a registry student's."""
    style = variant.rstrip("0123456789")
    return (style, int(variant[len(style) :])) if style in NETWORK_STYLES and variant != style else None


def random_network(spec: KernelSpec) -> nn.Module:
    """spec.kernel blocks of a style at width spec.cout / 100: inverted residuals or ShuffleNet units after a
    strided 3x3 stem, ResNet basic blocks, or mixer blocks; strides, kernels, expansions, the activation, the
    squeeze-excite gate and the padding drawn from the variant's seed."""
    style_seed = network_style(spec.variant)
    assert style_seed is not None, spec.variant
    style, seed = style_seed
    rng = np.random.default_rng(seed)
    if style == "residual":
        return nn.Sequential(*_residual_network(spec, rng))
    if style == "mixer":
        return nn.Sequential(*_mixer_network(spec, rng))
    act = NETWORK_ACTIVATIONS[str(rng.choice(list(NETWORK_ACTIVATIONS)))]
    gate = NETWORK_GATES[str(rng.choice(list(NETWORK_GATES)))]
    same = bool(rng.random() < 0.5)
    c = _rounded(int(rng.choice([16, 24, 32])) * spec.cout / 100)
    layers: list[nn.Module] = [nn.Conv2d(spec.cin, c, 3, 2, 1), act()]
    side = spec.side // 2
    for _ in range(spec.kernel):
        stride = 2 if side >= 8 and rng.random() < 0.35 else 1
        if style == "shuffle":
            cout = _rounded(2 * c) if stride == 2 else c
            layers.append(_ShuffleBlock(c, cout, stride))
        else:
            grow = float(rng.choice([1.5, 2.0])) if stride == 2 else float(rng.choice([1.0, 1.0, 1.5]))
            cout = _rounded(min(c * grow, 320))  # MobileNetV2's and EfficientNet-B0's widest block
            expand, kernel = int(rng.choice([1, 3, 4, 6])), int(rng.choice([3, 5]))
            layers.append(_InvertedBlock(c, cout, expand, kernel, stride, act, gate, same))
        c, side = cout, -(-side // stride)
    return nn.Sequential(*layers)


def student_prefix(spec: KernelSpec) -> nn.Module:
    """The first spec.kernel blocks of the student spec.variant, at width spec.cout / 100."""
    from edgedistill.students import build_student

    model = build_student(
        spec.variant, num_classes=10, in_channels=spec.cin, input_size=spec.side, width=spec.cout / 100
    )
    if spec.variant == "resnet8":
        blocks = [model.stem, model.layer1, model.layer2, model.layer3]
    else:
        blocks = list(model.features)
    return nn.Sequential(*blocks[: spec.kernel])


def draw_layers(count: int, dtype: str, rng: np.random.Generator) -> list[KernelSpec]:
    """count real-layer models, in turn a prefix of each registry student and two networks of each style written
    here, each at a drawn width, input size and depth."""
    specs = set()
    sources = sorted(STUDENT_DEPTHS) + 2 * sorted(NETWORK_STYLES)
    for i in range(count * 20):
        if len(specs) == count:
            break
        source = sources[i % len(sources)]
        width = int(rng.choice([35, 50, 75, 100, 140]))
        side = int(rng.choice([32, 48, 64, 96, 128]))
        if source in NETWORK_STYLES:
            variant = f"{source}{int(rng.integers(10**6))}"
            width, side = int(rng.choice([35, 50, 75, 100])), int(rng.choice([64, 96, 128, 160]))
            depth = int(rng.integers(2, NETWORK_STYLES[source] + 1))
        else:
            variant, depth = source, int(rng.integers(1, STUDENT_DEPTHS[source] + 1))
        specs.add(KernelSpec("layers", side, 3, width, depth, 1, dtype, variant))
    return sorted(specs, key=lambda s: s.name)


def draw_family(name: str, count: int, dtype: str, rng: np.random.Generator) -> list[KernelSpec]:
    """count distinct specs of one family, within the size bounds."""
    drawn: set[KernelSpec] = set()
    for _ in range(count * 50):
        if len(drawn) == count:
            break
        spec = _DRAWS[name](rng, dtype)
        if spec.macs() <= MAX_MACS and spec.largest_activation() <= MAX_ACTIVATION:
            drawn.add(spec)
    return sorted(drawn, key=lambda s: s.name)


def draw_suite(
    per_family: int, dtypes: tuple[str, ...] = ("int8", "float32"), seed: int = 0, layers: int | None = None
) -> list[KernelSpec]:
    """per_family x the family's weight specs of each family and dtype, and `layers` real-layer models per dtype
    (default: 4 x per_family), shapes drawn at random within the ranges networks use."""
    rng = np.random.default_rng(seed)
    specs: list[KernelSpec] = []
    for dtype in dtypes:
        for name in FAMILIES:
            specs += draw_family(name, per_family * WEIGHTS[name], dtype, rng)
        specs += draw_layers(4 * per_family if layers is None else layers, dtype, rng)
    return specs


class Convertible(Protocol):
    """What can be converted: a module to build (in the converting process) and its input shape (C, H, W)."""

    @property
    def input_shape(self) -> tuple[int, int, int]: ...

    def module(self) -> nn.Module: ...


def _convert(spec: Convertible, dtype: str, path: Path) -> None:
    from edgedistill.export.native_logs import native_logs_to

    log = path.parent / f"convert-{os.getpid()}.log"  # the converters' native logs, one file per process
    with native_logs_to(log):  # what the converters print as they load, too (in this process: no worker's log)
        from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_int8

        torch.manual_seed(0)
        model = spec.module().eval()
        if dtype == "int8":
            calibration = [torch.randn(1, *spec.input_shape) for _ in range(4)]
            export_tflite_int8(model, spec.input_shape, calibration, path, log=log)
        else:
            export_tflite_fp32(model, spec.input_shape, path, log=log)


def _worker_output_to(log: Path) -> None:
    """A conversion process's own stdout and stderr (what its libraries print as they load) go to log."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def conversion_workers() -> int:
    """Conversions run side by side on the host's cores (each converter is single-threaded), at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def convert_models(
    jobs: Sequence[tuple[Convertible, str, Path]], advance: Callable[[], None] = lambda: None
) -> list[Path]:
    """Each (model, dtype, path) converted to .tflite at path unless a file is already there (kept across runs),
    by conversion_workers() processes side by side; the paths in the order of jobs."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    todo = [job for job in jobs if not job[2].is_file()]
    for _ in range(len(jobs) - len(todo)):
        advance()
    workers = min(conversion_workers(), len(todo) // 4)  # a worker's start (its imports) costs ~3 conversions
    if workers <= 1:
        for spec, dtype, path in todo:
            _convert(spec, dtype, path)
            advance()
    else:  # spawned, not forked: torch's threads do not survive a fork
        log = todo[0][2].parent / "convert-workers.log"
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_output_to, initargs=(log,)) as pool:
            for done in as_completed([pool.submit(_convert, *job) for job in todo]):
                done.result()
                advance()
    return [path for _, _, path in jobs]


def build_suite(specs: list[KernelSpec], folder: Path, advance: Callable[[], None] = lambda: None) -> list[Path]:
    """Each spec converted to .tflite in folder (kept across runs: a file already there is reused); the paths in
    the order of specs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = convert_models([(spec, spec.dtype, folder / f"{spec.name}.tflite") for spec in specs], advance)
    write_json(folder / "suite.json", [asdict(s) for s in specs])
    return paths
