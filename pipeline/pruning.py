"""Structured pruning with Torch-Pruning: channels really removed, coupled layers (residual adds,
depthwise convs, BatchNorm) kept consistent by its dependency graph.

A pruned model is saved as its state_dict plus the pruning history (which channels of which layer
went, in order): replaying the history on a fresh copy of the architecture rebuilds it exactly,
without pickling a module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from edgedistill.errors import ConfigError
from edgedistill.pipeline.config import PruneConfig
from edgedistill.pipeline.distill.features import resolve_layer
from edgedistill.students.profile import profile_model

History = list[list[Any]]  # [module path, prunes output channels?, [channel indices]]


def _importance(name: str):
    import torch_pruning as tp

    return {
        "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
        "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "bn_scale": lambda: tp.importance.BNScaleImportance(),
        "taylor": lambda: tp.importance.GroupTaylorImportance(),
    }[name]()


def _kept_layers(model: nn.Module, cfg: PruneConfig) -> list[nn.Module]:
    """The layers whose output channels stay: the classifier (the last Linear) and keep_layers."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    kept = linears[-1:]
    for i, path in enumerate(cfg.keep_layers):
        kept.append(resolve_layer(model, path, f"prune.keep_layers[{i}]"))
    return kept


def make_pruner(model: nn.Module, example: torch.Tensor, cfg: PruneConfig, ratio: float):
    import torch_pruning as tp

    return tp.pruner.BasePruner(
        model,
        example,
        importance=_importance(cfg.importance),
        pruning_ratio=ratio,
        global_pruning=cfg.global_pruning,
        iterative_steps=cfg.steps,
        ignored_layers=_kept_layers(model, cfg),
        round_to=cfg.round_to,
    )


def _size(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    p = profile_model(model, tuple(example.shape[1:]))
    return p.params, p.macs


def search_ratio(model: nn.Module, example: torch.Tensor, cfg: PruneConfig) -> float:
    """The channel ratio for the target: the config's ratio, or the smallest ratio (bisection on copies) that
    brings MACs or parameters down to the budget."""
    if cfg.ratio is not None:
        return cfg.ratio
    which, share = (1, cfg.keep_macs) if cfg.keep_macs is not None else (0, cfg.keep_params)
    budget = _size(model, example)[which] * share  # type: ignore[operator]
    lo, hi = 0.0, 0.95
    for _ in range(10):
        mid = (lo + hi) / 2
        if _size(pruned_copy(model, example, cfg, mid), example)[which] <= budget:
            hi = mid
        else:
            lo = mid
    if _size(pruned_copy(model, example, cfg, hi), example)[which] > budget:
        what = "MACs" if which else "parameters"
        raise ConfigError(
            f"prune: cannot bring {what} down to {share:.0%} with round_to {cfg.round_to} and the layers kept"
        )
    return round(hi, 4)


def pruned_copy(model: nn.Module, example: torch.Tensor, cfg: PruneConfig, ratio: float) -> nn.Module:
    """A copy of the model pruned in one step at this ratio (the model itself is left as it is)."""
    trial = copy.deepcopy(model)
    make_pruner(trial, example, cfg.model_copy(update={"steps": 1}), ratio).step()
    return trial


def prune_step(pruner, model: nn.Module, taylor_loss: Callable[[], torch.Tensor] | None) -> list[str]:
    """One pruning step; returns, for each group pruned, the coupled layers it touched."""
    if taylor_loss is not None:  # Taylor importance reads the gradients of a loss
        model.zero_grad()
        taylor_loss().backward()
    names = {m: n for n, m in model.named_modules()}
    touched = []
    for group in pruner.step(interactive=True):
        layers = sorted({names.get(dep.target.module, "?") for dep, _ in group if dep.target.module in names})
        touched.append(f"{len(group[0][1])} channels: {', '.join(layers)}")
        group.prune()
    model.zero_grad()
    return touched


def history(pruner) -> History:
    return [[name, bool(out), [int(i) for i in idxs]] for name, out, idxs in pruner.pruning_history()]


def replay(model: nn.Module, example_shape: tuple[int, ...], steps: History) -> nn.Module:
    """Apply a saved pruning history to a fresh copy of the architecture (in place); returns it."""
    import torch_pruning as tp

    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(example_shape), verbose=False)
    graph.load_pruning_history([(name, out, idxs) for name, out, idxs in steps])
    return model


UNSTRUCTURED_NOTE = (
    "unstructured pruning only zeros weights: the .tflite keeps dense tensors, so it is no faster on a CPU "
    "(XNNPACK runs dense kernels); it only shrinks the file once compressed (see gzip_bytes)"
)


def _weighted_layers(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def mask_smallest_weights(model: nn.Module, share: float) -> None:
    """Zero the `share` of conv/linear weights with the smallest magnitude, ranked across layers; the masks
    stay in place (weight = weight_orig * mask) so fine-tuning keeps the zeros, until make_masks_permanent."""
    import torch.nn.utils.prune as torch_prune

    torch_prune.global_unstructured(_weighted_layers(model), pruning_method=torch_prune.L1Unstructured, amount=share)


def make_masks_permanent(model: nn.Module) -> None:
    import torch.nn.utils.prune as torch_prune

    for module, name in _weighted_layers(model):
        if torch_prune.is_pruned(module):
            torch_prune.remove(module, name)


def weight_sparsity(model: nn.Module) -> float:
    """Share of conv/linear weights that are exactly zero."""
    weights = [getattr(m, name).detach() for m, name in _weighted_layers(model)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total) if total else 0.0
