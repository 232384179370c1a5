"""The training loop shared by the example teacher, the baseline, distill and prune stages.

AdamW + OneCycle, optional augmentation (random shifts, left-right flips), validation every epoch,
and the best state_dict by validation accuracy kept (not the last one). Batches stream from the
decoded stores; training runs on the configured device and precision, and resumes from its last
finished epoch after a kill.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.fsutil import write_torch
from edgedistill.pipeline.data.bundle import Split
from edgedistill.pipeline.data.loader import batches_of, loader_workers, sequential_batches, to_unit
from edgedistill.pipeline.distill.runtime import CPU, TrainRuntime
from edgedistill.progress import Progress

# loss(student_logits, batch_indices, augmented_batch_in_0..1_range) -> scalar
BatchLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FitResult:
    best_state: dict[str, torch.Tensor]
    best_val_accuracy: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)


def set_seed(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift every image in an NCHW batch by up to max_shift pixels in x and y, filling with zeros."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


def shift_for(height: int, width: int) -> int:
    """Random-shift range fit for the image size: 1/14 of the shorter side (2 px at 28x28), at least 1 px."""
    return max(1, round(min(height, width) / 14))


def augment_batch(x: torch.Tensor, generator: torch.Generator, max_shift: int, hflip: bool = False) -> torch.Tensor:
    x = random_shift(x, max_shift, generator)
    if hflip:
        flip = torch.rand(len(x), generator=generator) < 0.5
        x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    return x


def epoch_order(n: int, epoch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of one epoch: fresh permutations of 0..n-1 back to back until epoch_size are drawn."""
    parts = [torch.randperm(n, generator=generator) for _ in range(-(-epoch_size // n))]
    return torch.cat(parts)[:epoch_size]


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    pred = np.asarray(logits).argmax(axis=1)
    return float((pred == np.asarray(labels)).mean() * 100.0)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Top-1 agreement of two models' logits, in percent."""
    return float((np.asarray(a).argmax(1) == np.asarray(b).argmax(1)).mean() * 100.0)


def evaluate(
    model: nn.Module,
    split: Split,
    view: Callable[[torch.Tensor], torch.Tensor],
    pixel_max: float,
    runtime: TrainRuntime = CPU,
    batch_size: int = 512,
    workers: int = 0,
) -> torch.Tensor:
    """The model's logits (float32, on the CPU) for every image of a split, streamed in batches."""
    model.eval()
    out = []
    with torch.no_grad():
        for _, raw in batches_of(split, sequential_batches(len(split), batch_size), workers, runtime.device):
            with runtime.autocast():
                out.append(model(view(to_unit(raw, pixel_max, runtime.device))).float().cpu())
    return torch.cat(out)


def fit(
    model: nn.Module,
    *,
    train: Split,
    pixel_max: float,
    loss_fn: BatchLoss,
    val: Split,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    augment: bool,
    progress: Progress,
    label: str,
    hflip: bool = False,
    epoch_size: int | None = None,
    extra: nn.Module | None = None,
    runtime: TrainRuntime = CPU,
    workers: int | None = None,
    checkpoint: Path | None = None,
) -> FitResult:
    """Train `model` on the `train` split, streamed from the stores; loss_fn sees the student logits, the
    batch's positions in `train` and the augmented batch (NCHW in [0, 1], on the training device).

    epoch_size: samples per epoch (default: all of `train` once), so a small labelled set can get as many
    steps as a large transfer set. extra: modules trained alongside (e.g. hint adapters), not kept.
    checkpoint: a file written after every epoch (model, optimizer, schedule, random state, best so far);
    when it exists, training resumes after its epoch and ends where an uninterrupted run would.
    """
    gen = set_seed(seed)
    n = len(train)
    per_epoch = epoch_size or n
    steps_per_epoch = (per_epoch + batch_size - 1) // batch_size
    runtime.prepare(model)
    if extra is not None:
        runtime.prepare(extra)
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    scaler = runtime.grad_scaler()
    workers = loader_workers(workers, train, runtime.device)
    result = FitResult(best_state=_cpu_state(model), best_val_accuracy=-1.0, best_epoch=0)
    signature = {"n": n, "per_epoch": per_epoch, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    first = 1
    if checkpoint is not None and checkpoint.is_file():
        first = _resume(checkpoint, signature, model, extra, opt, sched, scaler, gen, result)
    for epoch in range(first, epochs + 1):
        model.train()
        if extra is not None:
            extra.train()
        order = epoch_order(n, per_epoch, gen).numpy()
        batches = [order[s : s + batch_size] for s in range(0, per_epoch, batch_size)]
        total_loss = 0.0
        with progress.task(f"{label}: epoch {epoch}/{epochs}", total=per_epoch, unit="images") as advance:
            for idx, raw in batches_of(train, batches, workers, runtime.device):
                batch = to_unit(raw, pixel_max, runtime.device)
                if augment or hflip:
                    batch = augment_batch(batch, gen, shift_for(*batch.shape[-2:]) if augment else 0, hflip)
                if runtime.channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                with runtime.autocast():
                    loss = loss_fn(model(normalize(batch)), idx, batch)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                sched.step()
                total_loss += float(loss.detach()) * len(idx)
                advance(steps=len(idx))
        val_acc = accuracy(evaluate(model, val, normalize, pixel_max, runtime), val.y)
        result.history.append(
            {"epoch": epoch, "loss": round(total_loss / per_epoch, 5), "val_accuracy": round(val_acc, 3)}
        )
        if val_acc > result.best_val_accuracy:
            result.best_val_accuracy, result.best_epoch = val_acc, epoch
            result.best_state = _cpu_state(model)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, signature, epoch, model, extra, opt, sched, scaler, gen, result)
    model.load_state_dict(result.best_state)
    model.to("cpu").eval()
    if extra is not None:
        extra.to("cpu")
    return result


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the state_dict on the CPU, with its per-module version metadata (as torch.save writes it)."""
    state = model.state_dict()
    out = type(state)((k, v.detach().to("cpu", copy=True)) for k, v in state.items())
    if hasattr(state, "_metadata"):
        out._metadata = copy.deepcopy(state._metadata)  # type: ignore[attr-defined]
    return out


def _save_checkpoint(path: Path, signature, epoch, model, extra, opt, sched, scaler, gen, result: FitResult) -> None:
    state = {
        "signature": signature,
        "epoch": epoch,
        "model": _cpu_state(model),
        "extra": _cpu_state(extra) if extra is not None else {},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "best_state": result.best_state,
        "best_val_accuracy": result.best_val_accuracy,
        "best_epoch": result.best_epoch,
        "history": result.history,
    }
    write_torch(path, state)


def _resume(path: Path, signature, model, extra, opt, sched, scaler, gen, result: FitResult) -> int:
    """Restore a checkpoint of the same training; returns the first epoch still to run (1 if it does not fit)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a checkpoint torn by a kill mid-write cannot happen (atomic), a foreign file can
        return 1
    if state.get("signature") != signature:
        return 1
    model.load_state_dict(state["model"])
    if extra is not None:
        extra.load_state_dict(state["extra"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    result.best_state = state["best_state"]
    result.best_val_accuracy = state["best_val_accuracy"]
    result.best_epoch = state["best_epoch"]
    result.history = state["history"]
    return state["epoch"] + 1
