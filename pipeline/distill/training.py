"""The training loop shared by the example teacher, the baseline, distill and prune stages.

AdamW + OneCycle, optional augmentation (distill.views: shifts and flips, or crops, colour, mixup and
cutmix), validation every epoch, and the best state_dict by validation accuracy kept (not the last one).
Batches stream from the decoded stores; training runs on the configured device and precision, and resumes
from its last finished epoch after a kill.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgedistill.fsutil import write_torch
from edgedistill.pipeline.data.bundle import Split
from edgedistill.pipeline.data.loader import (
    BatchStream,
    batches_of,
    loader_workers,
    sequential_batches,
    to_unit,
)
from edgedistill.pipeline.distill.runtime import (
    CPU,
    TrainRuntime,
    out_of_memory_hint,
    restore_rng_state,
    rng_state,
)
from edgedistill.pipeline.distill.views import Mix, ViewPolicy, apply_views
from edgedistill.pipeline.distill.world import SINGLE, World
from edgedistill.progress import Progress

EVAL_BYTES = 32 << 20  # float32 input per evaluation batch: 512 MNIST digits, 55 photos at 224x224
# loss(student_logits, batch_indices, augmented_batch_in_0..1_range, how the batch was mixed or None) -> scalar
BatchLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Mix | None], torch.Tensor]


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
    """The model's logits (float32, on the CPU) for every image of a split, streamed in batches of up to
    batch_size images, fewer where their float copies (at the stored size, or at the view's size when it
    resizes) would pass EVAL_BYTES.

    The logits go into one array made at the first batch, not a list of per-batch tensors. A small tensor kept
    from every batch is allocated among that batch's large freed buffers on glibc's heap, which then grew by about
    one batch per batch instead of being reused (31 MB per batch of 55 images at 224x224; an ONNX teacher's pass
    over 10,000 test images took the build from 0.75 to 5 GB); with one array it stays flat."""
    model.eval()
    size = eval_rows(split, view, batch_size)
    logits: torch.Tensor | None = None
    with torch.no_grad():
        for positions, raw in batches_of(split, sequential_batches(len(split), size), workers, runtime.device):
            with runtime.autocast():
                out = model(view(to_unit(raw, pixel_max, runtime.device)))
            if logits is None:
                logits = torch.empty((len(split), *out.shape[1:]), dtype=torch.float32)
            logits[positions] = out.detach().float().cpu()
    return logits if logits is not None else torch.empty((0, 0))


def eval_rows(split: Split, view: Callable[[torch.Tensor], torch.Tensor], cap: int) -> int:
    """Images per evaluation batch: float32 copies within EVAL_BYTES at the larger of the stored size and the
    view's (a teacher at 224x224 over 32x32 images takes 49 times the stored size per image)."""
    h, w, c = split.images.item_shape
    size = getattr(view, "size", None)
    scale = 1.0
    if isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        scale = max(1.0, size[0] * size[1] / (h * w))
    per_image = int(h * w * c * 4 * scale)
    return max(1, min(cap, EVAL_BYTES // per_image))


class SplitOutputs:
    """Several models' outputs over one split, written batch by batch into one array per model (made at its first
    batch), not kept as a list of per-batch arrays, whose small blocks among each batch's large freed buffers make
    the heap grow by about a batch per batch (see evaluate)."""

    def __init__(self, rows: int) -> None:
        self.rows, self.start = rows, 0
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, name: str, batch: np.ndarray) -> None:
        """One model's output for the current batch (its rows from `start`)."""
        if name not in self.arrays:
            self.arrays[name] = np.empty((self.rows, *batch.shape[1:]), np.float32)
        self.arrays[name][self.start : self.start + len(batch)] = batch

    def next_batch(self, rows: int) -> None:
        self.start += rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


class TrainStep:
    """One optimizer step of a training run, from a batch of raw images as the loader hands them over to the
    parameters' update: the images onto the training device, augmentation there, the forward pass under
    autocast, the loss, the backward pass (scaled for fp16), the optimizer step, and the schedule's step only
    when the optimizer stepped (the GradScaler skips a step whose gradients are inf or NaN). Everything it
    touches lives on the runtime's device, so a step run on the `meta` device fails on any CPU constant."""

    def __init__(
        self,
        trained: nn.Module,
        params: list[nn.Parameter],
        loss_fn: BatchLoss,
        normalize: Callable[[torch.Tensor], torch.Tensor],
        *,
        runtime: TrainRuntime,
        lr: float,
        weight_decay: float,
        total_steps: int,
        generator: torch.Generator,
        pixel_max: float,
        views: ViewPolicy,
        world: World = SINGLE,
        extra: nn.Module | None = None,
    ) -> None:
        self.trained, self.loss_fn, self.normalize, self.runtime = trained, loss_fn, normalize, runtime
        self.generator, self.pixel_max, self.views = generator, pixel_max, views
        self.world, self.extra = world, extra
        self.opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=lr, total_steps=total_steps)
        self.scaler = runtime.grad_scaler()

    def __call__(self, idx: torch.Tensor, raw: torch.Tensor, whole: int) -> torch.Tensor:
        """Train on one batch (positions idx in the training split, raw NHWC images: this rank's shard of a batch
        of `whole` rows); returns its loss, detached, on the training device (reading it would wait for the GPU)."""
        runtime, world = self.runtime, self.world
        batch, mix = to_unit(raw, self.pixel_max, runtime.device), None
        if self.views.active:
            share = (whole, slice(world.rank, None, world.size)) if world.distributed else None
            batch, mix = apply_views(batch, self.views, self.generator, share)
        if runtime.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            loss = self.loss_fn(self.trained(self.normalize(batch)), idx, batch, mix)
        self.opt.zero_grad(set_to_none=True)
        step_loss = loss * _shard_weight(len(idx), whole, world)
        if self.scaler is not None:
            self.scaler.scale(step_loss).backward()
        else:
            step_loss.backward()
        if world.distributed and self.extra is not None:
            _average_gradients(self.extra, world)  # the student's are averaged by DistributedDataParallel
        if self._optimizer_step():
            self.sched.step()
        return loss.detach()

    def _optimizer_step(self) -> bool:
        """Step the optimizer; False when the GradScaler skipped the step (it then lowers its scale)."""
        if self.scaler is None:
            self.opt.step()
            return True
        scale = self.scaler.get_scale()
        self.scaler.step(self.opt)
        self.scaler.update()
        return self.scaler.get_scale() >= scale


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
    augment: bool | ViewPolicy,
    progress: Progress,
    label: str,
    hflip: bool = False,
    epoch_size: int | None = None,
    extra: nn.Module | None = None,
    runtime: TrainRuntime = CPU,
    workers: int | None = None,
    checkpoint: Path | None = None,
    world: World = SINGLE,
    epoch_start: Callable[[int], None] | None = None,
    val_score: Callable[[torch.Tensor, np.ndarray], float] = accuracy,
) -> FitResult:
    """Train `model` on the `train` split, streamed from the stores; loss_fn sees the student logits, the
    batch's positions in `train`, the augmented batch (NCHW in [0, 1], on the training device) and how it was
    mixed (None unless the views mix images).

    augment: the views of each batch (a ViewPolicy), or True for random shifts (and left-right flips with hflip).

    epoch_size: samples per epoch (default: all of `train` once), so a small labelled set can get as many
    steps as a large transfer set. extra: modules trained alongside (e.g. hint adapters), not kept.
    checkpoint: a file written after every epoch (model, optimizer, schedule, random state of the CPU and the
    training device, best so far); when it exists, training resumes after its epoch and ends where an
    uninterrupted run would.
    world: in a distributed world every rank calls fit; each trains on its shard of every batch (the same
    batches and steps as one process), rank 0 validates and checkpoints, and only its result counts.
    epoch_start: called with each epoch's number (from 1) before it trains, resumed epochs included.
    val_score: the validation score the best epoch is chosen by, from the model's validation outputs and labels
    (default: top-1 accuracy).
    The model (and extra) are handed back on the CPU in the default memory format, holding the best epoch.
    """
    gen = set_seed(seed)
    n = len(train)
    per_epoch = epoch_size or n
    steps_per_epoch = (per_epoch + batch_size - 1) // batch_size
    runtime.prepare(model)
    if extra is not None:
        runtime.prepare(extra)
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    step = TrainStep(
        _data_parallel(model, runtime, world),
        params,
        loss_fn,
        normalize,
        runtime=runtime,
        lr=lr,
        weight_decay=weight_decay,
        total_steps=epochs * steps_per_epoch,
        generator=gen,
        pixel_max=pixel_max,
        views=augment if isinstance(augment, ViewPolicy) else ViewPolicy(shift=augment, hflip=hflip),
        world=world,
        extra=extra,
    )
    result = FitResult(best_state=_cpu_state(model), best_val_accuracy=-1.0, best_epoch=0)
    signature = {"n": n, "per_epoch": per_epoch, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    saved = _load_checkpoint(checkpoint, signature) if checkpoint is not None and world.is_main else None
    saved = world.broadcast(saved)  # every rank resumes where rank 0's checkpoint says
    first = 1 if saved is None else _restore(saved, model, extra, step, result)
    stream = BatchStream(train, loader_workers(workers, train, runtime.device), runtime.device)
    try:
        with out_of_memory_hint(batch_size, runtime.device):
            for epoch in range(first, epochs + 1):
                if epoch_start is not None:
                    epoch_start(epoch)
                model.train()
                if extra is not None:
                    extra.train()
                order = epoch_order(n, per_epoch, gen).numpy()
                whole = [order[s : s + batch_size] for s in range(0, per_epoch, batch_size)]
                if world.distributed:  # a tail batch too small to give every rank a sample is left out on all of them
                    whole = [b for b in whole if len(b) >= world.size]
                total_loss = torch.zeros((), device=runtime.device)  # summed where it is made: no wait per step
                with progress.task(f"{label}: epoch {epoch}/{epochs}", total=per_epoch, unit="images") as advance:
                    batches = stream.epoch([world.shard(b) for b in whole])
                    for (idx, raw), batch_rows in zip(batches, whole, strict=True):
                        total_loss += step(idx, raw, len(batch_rows)).float() * len(idx)
                        advance(steps=len(batch_rows))
                if world.is_main:  # rank 0 validates, keeps the best state and writes the checkpoint
                    val_acc = val_score(evaluate(model, val, normalize, pixel_max, runtime), val.y)
                    result.history.append(
                        {
                            "epoch": epoch,
                            "loss": round(float(total_loss) / (per_epoch / world.size), 5),
                            "val_accuracy": round(val_acc, 3),
                        }
                    )
                    if val_acc > result.best_val_accuracy:
                        result.best_val_accuracy, result.best_epoch = val_acc, epoch
                        result.best_state = _cpu_state(model)
                    if checkpoint is not None:
                        _save_checkpoint(checkpoint, signature, epoch, model, extra, step, result)
    finally:
        stream.close()
    model.load_state_dict(result.best_state)
    model.to("cpu", memory_format=torch.contiguous_format).eval()
    if extra is not None:
        extra.to("cpu", memory_format=torch.contiguous_format)
    return result


def _shard_weight(shard: int, whole: int, world: World) -> float:
    """The factor on a rank's mean loss so that the ranks' averaged gradients are the whole batch's: shards of a
    batch that does not divide evenly (27 over 2 ranks: 14 and 13) count by their size, not one each."""
    return shard * world.size / whole if world.distributed else 1.0


def _data_parallel(model: nn.Module, runtime: TrainRuntime, world: World) -> nn.Module:
    """The student behind DistributedDataParallel in a distributed world (its gradients averaged over the ranks,
    its BatchNorm statistics broadcast from rank 0), else the student itself."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = (
        [runtime.device.index if runtime.device.index is not None else world.local_rank]
        if runtime.device.type == "cuda"
        else None
    )
    return DistributedDataParallel(model, device_ids=ids)


def _average_gradients(module: nn.Module, world: World) -> None:
    import torch.distributed as dist

    for param in module.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= world.size


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the state_dict on the CPU in the default memory format (a CUDA run trains in channels_last), with
    its per-module version metadata (as torch.save writes it)."""
    state = model.state_dict()
    out = type(state)(
        (k, v.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)) for k, v in state.items()
    )
    if hasattr(state, "_metadata"):
        out._metadata = copy.deepcopy(state._metadata)  # type: ignore[attr-defined]
    return out


def _save_checkpoint(path: Path, signature, epoch, model, extra, step: TrainStep, result: FitResult) -> None:
    state = {
        "signature": signature,
        "epoch": epoch,
        "model": _cpu_state(model),
        "extra": _cpu_state(extra) if extra is not None else {},
        "optimizer": step.opt.state_dict(),
        "scheduler": step.sched.state_dict(),
        "scaler": step.scaler.state_dict() if step.scaler is not None else {},
        "generator": step.generator.get_state(),
        "rng": rng_state(step.runtime.device),
        "best_state": result.best_state,
        "best_val_accuracy": result.best_val_accuracy,
        "best_epoch": result.best_epoch,
        "history": result.history,
    }
    write_torch(path, state)


def _load_checkpoint(path: Path, signature: dict) -> dict | None:
    """A checkpoint of this same training, or None (none yet, or one of other settings)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a checkpoint torn by a kill mid-write cannot happen (atomic), a foreign file can
        return None
    return state if state.get("signature") == signature and "rng" in state else None


def _restore(state: dict, model, extra, step: TrainStep, result: FitResult) -> int:
    """Put a checkpoint's state back; returns the first epoch still to run."""
    model.load_state_dict(state["model"])
    if extra is not None:
        extra.load_state_dict(state["extra"])
    step.opt.load_state_dict(state["optimizer"])
    step.sched.load_state_dict(state["scheduler"])
    if step.scaler is not None and state["scaler"]:
        step.scaler.load_state_dict(state["scaler"])
    step.generator.set_state(state["generator"])
    restore_rng_state(state["rng"], step.runtime.device)
    result.best_state = state["best_state"]
    result.best_val_accuracy = state["best_val_accuracy"]
    result.best_epoch = state["best_epoch"]
    result.history = state["history"]
    return state["epoch"] + 1
