"""The training loop shared by the example teacher and the distill stage.

AdamW + OneCycle, optional augmentation (random shifts, left-right flips), validation every epoch,
and the best state_dict by validation accuracy kept (not the last one).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
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


def fit(
    model: nn.Module,
    *,
    train_x: torch.Tensor,
    loss_fn: BatchLoss,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
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
) -> FitResult:
    """Train `model` on train_x (NCHW in [0, 1]); loss_fn sees the student logits, batch indices and the augmented batch.

    epoch_size: samples per epoch (default: all of train_x once), so a small labelled set can get as many
    steps as a large transfer set. extra: modules trained alongside (e.g. hint adapters), not kept.
    """
    gen = set_seed(seed)
    n = len(train_x)
    per_epoch = epoch_size or n
    steps_per_epoch = (per_epoch + batch_size - 1) // batch_size
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    val_in = normalize(val_x)
    result = FitResult(best_state=copy.deepcopy(model.state_dict()), best_val_accuracy=-1.0, best_epoch=0)
    with progress.task(label, total=epochs) as advance:
        for epoch in range(1, epochs + 1):
            model.train()
            if extra is not None:
                extra.train()
            order = epoch_order(n, per_epoch, gen)
            total_loss = 0.0
            for start in range(0, per_epoch, batch_size):
                idx = order[start : start + batch_size]
                batch = train_x[idx]
                if augment or hflip:
                    batch = augment_batch(batch, gen, shift_for(*batch.shape[-2:]) if augment else 0, hflip)
                loss = loss_fn(model(normalize(batch)), idx, batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total_loss += float(loss.detach()) * len(idx)
            val_acc = accuracy(predict_logits(model, val_in), val_y)
            result.history.append(
                {"epoch": epoch, "loss": round(total_loss / per_epoch, 5), "val_accuracy": round(val_acc, 3)}
            )
            if val_acc > result.best_val_accuracy:
                result.best_val_accuracy, result.best_epoch = val_acc, epoch
                result.best_state = copy.deepcopy(model.state_dict())
            advance(f"{label}: epoch {epoch}/{epochs}, val {val_acc:.2f}% (best {result.best_val_accuracy:.2f}%)")
    model.load_state_dict(result.best_state)
    model.eval()
    return result
