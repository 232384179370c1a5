"""Cross-layer equalization and bias correction (Nagel et al., "Data-Free Quantization", ICCV 2019): an fp32
student rewritten so that int8 loses less, computing the same function.

- BatchNorm is folded into the convolutions (exact in eval mode).
- Equalization: where a convolution feeds another through ReLU, ReLU6 or nothing, output channel i of the
  first is divided by s_i and input channel i of the second multiplied by it, s_i = sqrt(r1_i / r2_i) with r
  the channel's largest absolute weight; both then span sqrt(r1_i * r2_i). A depthwise convolution's
  per-channel ranges differ by orders of magnitude, which is what per-tensor activation ranges and the
  depthwise kernel's few weights per channel cannot absorb. ReLU is positively homogeneous, so the rewrite
  is exact; ReLU6 clips at 6, so a channel is rescaled only where the calibration samples never reach the
  clip, and never so far that they would (the paper replaces ReLU6 by ReLU instead, which changes the model).
  Sweeps repeat until the scales settle: a convolution between two others is equalized on both sides.
- Bias correction: per-channel int8 rounding of a convolution's weights shifts the mean of each output
  channel by (W_q - W) . E[x]; the mean input per channel E[x] comes from the calibration samples, and the
  shift is subtracted from the bias so that int8 keeps the mean output of fp32.

Nothing here depends on the exporter: the result is an ordinary module that torch.export, ONNX and the
int8 quantizers take like the student itself. A student torch.fx cannot trace is returned unchanged, with
the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import fx, nn

RELU6_CLIP = 6.0
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Identity)


@dataclass
class EqualizationReport:
    pairs: int = 0  # convolution pairs equalized
    channels_held: int = 0  # ReLU6 channels left unscaled: the calibration samples reach the clip
    bias_corrected: int = 0  # convolutions whose bias was corrected
    skipped: str = ""  # why nothing was done, if nothing was

    def summary(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Pair:
    first: nn.Conv2d
    activation: nn.Module | None
    second: nn.Conv2d
    peak: torch.Tensor | None = None  # largest pre-activation of each channel over calibration (ReLU6 only)


def _module(graph: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return graph.get_submodule(node.target) if node.op == "call_module" else None  # type: ignore[arg-type]


def _equalizable(conv: nn.Module | None) -> bool:
    return isinstance(conv, nn.Conv2d) and conv.groups in (1, conv.in_channels)


def _find_pairs(graph: fx.GraphModule) -> list[_Pair]:
    """conv -> [ReLU | ReLU6] -> conv chains where every intermediate output has one user."""
    pairs = []
    for node in graph.graph.nodes:
        first = _module(graph, node)
        if not isinstance(first, nn.Conv2d) or len(node.users) != 1:
            continue
        nxt = next(iter(node.users))
        activation = _module(graph, nxt)
        if isinstance(activation, _ACTIVATIONS):
            if len(nxt.users) != 1:
                continue
            nxt = next(iter(nxt.users))
        else:
            activation = None
        second = _module(graph, nxt)
        if _equalizable(second) and second.in_channels == first.out_channels:  # type: ignore[union-attr]
            pairs.append(_Pair(first, activation, second))  # type: ignore[arg-type]
    return pairs


def _out_ranges(conv: nn.Conv2d) -> torch.Tensor:
    return conv.weight.detach().abs().flatten(1).amax(1)


def _in_ranges(conv: nn.Conv2d) -> torch.Tensor:
    w = conv.weight.detach().abs()
    if conv.groups == conv.in_channels and conv.groups > 1:  # depthwise: input channel i is output channel i
        return w.flatten(1).amax(1)
    return w.transpose(0, 1).flatten(1).amax(1)


def _scale_pair(pair: _Pair) -> tuple[torch.Tensor, int]:
    """Rescale one pair in place; returns the scales used and how many ReLU6 channels were held at 1."""
    r1, r2 = _out_ranges(pair.first), _in_ranges(pair.second)
    s = torch.where((r1 > 0) & (r2 > 0), torch.sqrt(r1 / r2.clamp_min(1e-12)), torch.ones_like(r1))
    held = 0
    if isinstance(pair.activation, nn.ReLU6):
        assert pair.peak is not None
        clipped = pair.peak > RELU6_CLIP
        held = int(clipped.sum())
        # channel i now clips at 6 * s_i in the old units: keep every sample below it, and the clipped ones as they are
        s = torch.where(clipped, torch.ones_like(s), torch.maximum(s, pair.peak / RELU6_CLIP))
        pair.peak = pair.peak / s
    with torch.no_grad():
        pair.first.weight.div_(s.view(-1, *[1] * (pair.first.weight.dim() - 1)))
        if pair.first.bias is not None:
            pair.first.bias.div_(s)
        if pair.second.groups == pair.second.in_channels and pair.second.groups > 1:
            pair.second.weight.mul_(s.view(-1, 1, 1, 1))
        else:
            pair.second.weight.mul_(s.view(1, -1, 1, 1))
    return s, held


def _observe(graph: fx.GraphModule, samples: Sequence[torch.Tensor], convs: list[nn.Conv2d], peaks_of: list[nn.Conv2d]):
    """Mean input per channel of each conv in convs, and the largest output per channel of each in peaks_of."""
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    peaks: dict[int, torch.Tensor] = {}
    hooks = []

    def on_input(module, args):
        x = args[0].detach()
        key = id(module)
        sums[key] = sums.get(key, 0) + x.sum(dim=(0, 2, 3))
        counts[key] = counts.get(key, 0) + x.shape[0] * x.shape[2] * x.shape[3]

    def on_output(module, _args, out):
        key = id(module)
        top = out.detach().amax(dim=(0, 2, 3))
        peaks[key] = torch.maximum(peaks[key], top) if key in peaks else top

    for conv in convs:
        hooks.append(conv.register_forward_pre_hook(on_input))
    for conv in peaks_of:
        hooks.append(conv.register_forward_hook(on_output))
    try:
        with torch.no_grad():
            for start in range(0, len(samples), 64):  # batched: the statistics do not depend on the grouping
                graph(torch.cat(samples[start : start + 64]))
    finally:
        for h in hooks:
            h.remove()
    means = {k: sums[k] / counts[k] for k in sums}
    return means, peaks


def _quantized_weights(conv: nn.Conv2d) -> torch.Tensor:
    """The weights as per-channel symmetric int8 stores them (what the int8 exporters do)."""
    w = conv.weight.detach()
    scale = (w.abs().flatten(1).amax(1) / 127).clamp_min(1e-12).view(-1, *[1] * (w.dim() - 1))
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


def _correct_bias(conv: nn.Conv2d, mean_input: torch.Tensor) -> None:
    error = _quantized_weights(conv) - conv.weight.detach()  # (out, in/groups, kh, kw)
    per_input = error.sum(dim=(2, 3))
    groups = conv.groups
    mean = mean_input.view(groups, -1)  # (groups, in/groups)
    out_per_group = conv.out_channels // groups
    shift = (per_input.view(groups, out_per_group, -1) * mean[:, None, :]).sum(-1).flatten()
    with torch.no_grad():
        if conv.bias is None:
            conv.bias = nn.Parameter(torch.zeros(conv.out_channels, dtype=conv.weight.dtype))
        conv.bias.sub_(shift.to(conv.bias.dtype))


def equalize(
    model: nn.Module, samples: Sequence[torch.Tensor], sweeps: int = 20, bias_correction: bool = True
) -> tuple[nn.Module, EqualizationReport]:
    """A copy of the student (eval mode, NCHW input) with BN folded, cross-layer equalized and bias corrected,
    computed from calibration samples (NCHW batches in the student's input view)."""
    from torch.fx.experimental.optimization import fuse

    report = EqualizationReport()
    try:
        graph = fuse(copy.deepcopy(model).eval())
    except Exception as exc:  # noqa: BLE001 - torch.fx cannot trace every module; then nothing is rewritten
        report.skipped = f"torch.fx could not trace the student: {type(exc).__name__}: {exc}".splitlines()[0]
        return model, report
    graph.eval()
    pairs = _find_pairs(graph)
    if not pairs:
        report.skipped = "no convolution feeds another through ReLU, ReLU6 or nothing"
    relu6 = [p for p in pairs if isinstance(p.activation, nn.ReLU6)]
    _, peaks = _observe(graph, samples, [], [p.first for p in relu6])
    for p in relu6:
        p.peak = peaks[id(p.first)]
    held = [0] * len(pairs)
    for _ in range(sweeps):
        change = 0.0
        for i, p in enumerate(pairs):
            s, held[i] = _scale_pair(p)
            change = max(change, float((s.log().abs()).max()))
        if change < 1e-3:
            break
    report.pairs = len(pairs)
    report.channels_held = sum(held)
    if bias_correction:
        convs = [m for m in graph.modules() if isinstance(m, nn.Conv2d)]
        means, _ = _observe(graph, samples, convs, [])
        for conv in convs:
            if id(conv) in means:
                _correct_bias(conv, means[id(conv)])
                report.bias_corrected += 1
    return graph, report
