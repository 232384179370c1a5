"""The kernel micro-benchmarks: small .tflite models, each one kernel of the kind our students run (a
convolution with its fused ReLU6, a depthwise convolution, pooling and a fully connected layer, a residual
ADD, hard-swish), over shapes and channel counts drawn at random from the ranges students use, at int8 and
float32. Converted with the exporters that build students, so each holds the ops a student's model holds
(PAD before a strided int8 convolution, TRANSPOSE before a MEAN, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgedistill.fsutil import write_json

SIDES = (3, 6, 12, 24, 48, 96)
CHANNELS = (8, 16, 24, 32, 48, 64, 96, 128, 144, 192, 240, 288, 384, 576, 960, 1280)
MAX_MACS = 120e6  # larger kernels cost minutes to measure and students rarely hold them
MAX_ACTIVATION = 96 * 96 * 192  # elements


@dataclass(frozen=True)
class KernelSpec:
    family: str  # conv, depthwise, pool_fc, add, hardswish
    side: int
    cin: int
    cout: int
    kernel: int = 1
    stride: int = 1
    dtype: str = "int8"

    @property
    def name(self) -> str:
        return f"{self.family}_s{self.side}_c{self.cin}-{self.cout}_k{self.kernel}_st{self.stride}_{self.dtype}"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.cin, self.side, self.side)

    def macs(self) -> float:
        out = (self.side // self.stride) ** 2
        if self.family == "conv":
            return out * self.cin * self.cout * self.kernel**2
        if self.family == "depthwise":
            return out * self.cin * self.kernel**2
        if self.family == "pool_fc":
            return self.cin * self.cout + self.side**2 * self.cin
        return self.side**2 * self.cin * 4

    def module(self) -> nn.Module:
        from edgedistill.students.layers import GlobalAvgPool
        from edgedistill.students.mobilenetv3 import HardSwish

        pad = self.kernel // 2
        if self.family == "conv":
            return nn.Sequential(nn.Conv2d(self.cin, self.cout, self.kernel, self.stride, pad), nn.ReLU6())
        if self.family == "depthwise":
            conv = nn.Conv2d(self.cin, self.cin, self.kernel, self.stride, pad, groups=self.cin)
            return nn.Sequential(conv, nn.ReLU6())
        if self.family == "pool_fc":
            return nn.Sequential(GlobalAvgPool(), nn.Linear(self.cin, self.cout))
        if self.family == "add":
            return _Residual(self.cin)
        if self.family == "hardswish":
            return HardSwish()
        raise ValueError(f"unknown kernel family {self.family!r}")


class _Residual(nn.Module):
    """A 1x1 convolution and the ADD of its input: the residual of an inverted-residual block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x + self.conv(x)


def _draw(family: str, rng: np.random.Generator, dtype: str) -> KernelSpec:
    side = int(rng.choice(SIDES))
    cin, cout = (int(c) for c in rng.choice(CHANNELS, 2))
    if family == "conv":
        kernel = int(rng.choice([1, 1, 3]))  # students hold mostly pointwise convolutions
        stride = int(rng.choice([1, 1, 2])) if side > 3 else 1
        return KernelSpec(family, side, min(cin, 64) if kernel == 3 else cin, cout, kernel, stride, dtype)
    if family == "depthwise":
        return KernelSpec(family, side, cin, cin, int(rng.choice([3, 3, 5])), int(rng.choice([1, 2])), dtype)
    if family == "pool_fc":
        return KernelSpec(family, int(rng.choice(SIDES[:4])), cin, int(rng.choice([2, 10, 100, 1000])), dtype=dtype)
    return KernelSpec(family, side, cin, cin, dtype=dtype)


FAMILIES = ("conv", "depthwise", "pool_fc", "add", "hardswish")


def draw_suite(per_family: int, dtypes: tuple[str, ...] = ("int8", "float32"), seed: int = 0) -> list[KernelSpec]:
    """per_family kernels of each family and dtype, shapes drawn at random within the students' ranges."""
    rng = np.random.default_rng(seed)
    specs: list[KernelSpec] = []
    for dtype in dtypes:
        for family in FAMILIES:
            drawn: set[KernelSpec] = set()
            for _ in range(per_family * 50):
                if len(drawn) == per_family:
                    break
                spec = _draw(family, rng, dtype)
                if spec.macs() <= MAX_MACS and spec.side**2 * max(spec.cin, spec.cout) <= MAX_ACTIVATION:
                    drawn.add(spec)
            specs += sorted(drawn, key=lambda s: s.name)
    return specs


def build_suite(specs: list[KernelSpec], folder: Path, advance: Callable[[], None] = lambda: None) -> list[Path]:
    """Each kernel converted to .tflite in folder (kept across runs: a file already there is reused)."""
    from edgedistill.export.tflite_export import export_tflite_fp32, export_tflite_int8

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        path = folder / f"{spec.name}.tflite"
        if not path.is_file():
            torch.manual_seed(0)
            model = spec.module().eval()
            if spec.dtype == "int8":
                calibration = [torch.randn(1, *spec.input_shape) for _ in range(4)]
                export_tflite_int8(model, spec.input_shape, calibration, path, log=folder / "convert.log")
            else:
                export_tflite_fp32(model, spec.input_shape, path, log=folder / "convert.log")
        paths.append(path)
        advance()
    write_json(folder / "suite.json", [asdict(s) for s in specs])
    return paths
