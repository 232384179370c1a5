"""Tapping intermediate outputs of a model by module path (for feature hints and relational KD),
and the small adapters that map a student's features onto the teacher's."""

from __future__ import annotations

import difflib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.errors import ConfigError

# a tap reads a module's output, or with this suffix the input of the module (the embedding a classifier sees)
INPUT_OF = ":input"


def _layers(model: nn.Module, field: str) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    if len(modules) <= 1:
        raise ConfigError(
            f"{field}: the model has no PyTorch layers to tap (an ONNX or torch.export teacher); give the teacher as factory + checkpoint"
        )
    return modules


def last_linear(model: nn.Module, field: str) -> str:
    """Path of the last nn.Linear in registration order: its input is the model's embedding."""
    linears = [name for name, m in _layers(model, field).items() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            f"{field}: the model has no nn.Linear classifier whose input is the embedding; name the embedding layer"
        )
    return linears[-1] + INPUT_OF


def resolve_layer(model: nn.Module, path: str, field: str) -> nn.Module:
    """The module at `path`, or a one-line ConfigError naming the field and the nearest layer names."""
    modules = _layers(model, field)
    module = modules.get(path.removesuffix(INPUT_OF))
    if module is None or path.removesuffix(INPUT_OF) == "":
        names = [n for n in modules if n]
        near = difflib.get_close_matches(path, names, n=3) or names[:6]
        raise ConfigError(f"{field}: no layer {path!r} in the model (closest: {', '.join(near)})")
    return module


class FeatureTap:
    """Forward hooks that keep the latest output (or input) of named modules while active."""

    def __init__(self, model: nn.Module, paths: dict[str, tuple[str, str]]) -> None:
        """paths: key -> (module path, optionally ending in ':input'; the config field that named it, for errors)."""
        self.values: dict[str, torch.Tensor] = {}
        self._handles: list[Any] = []
        for key, (path, what) in paths.items():
            module = resolve_layer(model, path, what)
            try:
                if path.endswith(INPUT_OF):
                    handle = module.register_forward_pre_hook(self._keep_input(key))
                else:
                    handle = module.register_forward_hook(self._keep_output(key))
            except RuntimeError as exc:  # TorchScript modules take no hooks
                raise ConfigError(
                    f"{what}: cannot tap {path!r} ({str(exc).splitlines()[0]}); give the teacher as factory + checkpoint"
                ) from None
            self._handles.append(handle)

    def _keep_output(self, key: str):
        def hook(_module, _inputs, output):
            self.values[key] = output

        return hook

    def _keep_input(self, key: str):
        def hook(_module, inputs):
            self.values[key] = inputs[0]

        return hook

    def take(self) -> dict[str, torch.Tensor]:
        values, self.values = self.values, {}
        return values

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.values = {}


def feature_shape(model: nn.Module, tap: FeatureTap, example: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Per-sample shapes of the tapped features for one example batch (the model is run in eval mode)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(example)
    model.train(was_training)
    return {key: tuple(v.shape[1:]) for key, v in tap.take().items()}


class HintAdapter(nn.Module):
    """Maps a student feature onto the teacher feature's shape: a 1x1 conv for maps (C,H,W), resized
    to the teacher's H,W; a linear layer for vectors. Trained with the student, dropped afterwards."""

    def __init__(self, student_shape: tuple[int, ...], teacher_shape: tuple[int, ...]) -> None:
        super().__init__()
        if len(student_shape) != len(teacher_shape) or len(student_shape) not in (1, 3):
            raise ConfigError(
                f"distillation.hints: cannot match a student feature of shape {student_shape} to a teacher feature of shape "
                f"{teacher_shape} (both must be feature maps C,H,W or both vectors)"
            )
        self.size = tuple(teacher_shape[1:]) if len(teacher_shape) == 3 else None
        if len(student_shape) == 3:
            self.proj: nn.Module = nn.Conv2d(student_shape[0], teacher_shape[0], 1, bias=False)
        else:
            self.proj = nn.Linear(student_shape[0], teacher_shape[0], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return x
