from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgedistill.errors import ConfigError
from edgedistill.pipeline.data.transforms import make_normalizer
from edgedistill.pipeline.distill.runtime import CPU, TrainRuntime, mps_available, resolve_runtime
from edgedistill.pipeline.distill.training import accuracy, evaluate, fit
from edgedistill.pipeline.distill.views import ViewPolicy
from edgedistill.pipeline.distill.world import SINGLE, World
from edgedistill.progress import quiet
from tests.conftest import run_ranks, split_in_store


def toy_task(tmp_path, n: int = 256):
    """Bright vs dark 4x4 images (uint8) in a store: 200 to train on, the rest to validate."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 4, 4, 1), dtype=np.uint8)
    y = (x.mean(axis=(1, 2, 3)) > 127.5).astype(np.int64)
    return split_in_store(x[:200], y[:200], tmp_path / "train"), split_in_store(x[200:], y[200:], tmp_path / "val")


def train_toy(
    train,
    val,
    epochs=8,
    runtime=CPU,
    checkpoint=None,
    loss_hook=None,
    workers=0,
    batch_size=32,
    world=SINGLE,
    loss_factor=None,
):
    """loss_hook() runs before every batch's loss; loss_factor() may return a number to multiply it by."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    y = torch.from_numpy(train.y)

    def loss_fn(logits, idx, _batch, _mix):
        if loss_hook is not None:
            loss_hook()
        loss = F.cross_entropy(logits.float(), y[idx].to(logits.device))
        factor = loss_factor() if loss_factor is not None else None
        return loss if factor is None else loss * factor

    result = fit(
        model,
        train=train,
        pixel_max=255.0,
        loss_fn=loss_fn,
        val=val,
        normalize=make_normalizer([0.5], [0.25]),
        epochs=epochs,
        batch_size=batch_size,
        lr=0.05,
        weight_decay=0.0,
        seed=0,
        augment=False,
        hflip=True,  # draws from the training generator every batch, and keeps the label
        progress=quiet(),
        label="t",
        runtime=runtime,
        checkpoint=checkpoint,
        workers=workers,
        world=world,
    )
    return model, result


def test_fit_learns_and_keeps_the_best_epoch(tmp_path):
    """The toy task is seeded end to end: the best epoch scores 98.21% (55 of 56) with 1 and with 2 torch threads
    alike; the bar leaves 4 samples for another device's float rounding (EDGEDISTILL_TEST_DEVICE)."""
    train, val = toy_task(tmp_path)
    model, result = train_toy(train, val)
    assert result.best_val_accuracy >= 90
    assert abs(result.best_val_accuracy - max(h["val_accuracy"] for h in result.history)) < 1e-3
    # the model holds the best epoch's weights, not the last epoch's
    logits = evaluate(model, val, make_normalizer([0.5], [0.25]), 255.0)
    assert abs(accuracy(logits, val.y) - result.best_val_accuracy) < 1e-6


def test_loader_workers_do_not_change_what_is_learned(tmp_path):
    train, val = toy_task(tmp_path)
    alone, _ = train_toy(train, val, epochs=2, workers=0)
    with_workers, _ = train_toy(train, val, epochs=2, workers=2)
    for a, b in zip(alone.state_dict().values(), with_workers.state_dict().values(), strict=True):
        assert torch.equal(a, b)


class Killed(Exception):
    pass


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    train, val = toy_task(tmp_path)
    straight, straight_result = train_toy(train, val, epochs=5)
    checkpoint = tmp_path / "resume" / "fit.pt"
    steps = iter(range(10**6))

    def die_in_epoch_4():  # 7 batches an epoch: the 25th is inside epoch 4
        if next(steps) == 24:
            raise Killed

    with pytest.raises(Killed):
        train_toy(train, val, epochs=5, checkpoint=checkpoint, loss_hook=die_in_epoch_4)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 3
    resumed, resumed_result = train_toy(train, val, epochs=5, checkpoint=checkpoint)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert resumed_result.history == straight_result.history


def test_a_checkpoint_of_other_training_is_ignored(tmp_path):
    train, val = toy_task(tmp_path)
    checkpoint = tmp_path / "fit.pt"
    train_toy(train, val, epochs=2, checkpoint=checkpoint)
    _, result = train_toy(train, val, epochs=3, checkpoint=checkpoint)  # other epochs: a different schedule
    assert [h["epoch"] for h in result.history] == [1, 2, 3]


def _train_toy_as_rank(world: World, folder: Path) -> None:
    """One rank of a two-process group training the toy task; rank 0 saves what it learned."""
    train, val = toy_task(folder / f"rank{world.rank}")
    model, result = train_toy(train, val, epochs=3, batch_size=27, world=world)
    if world.is_main:
        torch.save({"state": model.state_dict(), "history": result.history}, folder / "rank0.pt")


def test_two_ranks_take_the_steps_one_process_takes_on_the_whole_batches(tmp_path):
    """Each rank trains on its shard of every batch (27 rows: 14 and 13), so gradients averaged over the ranks,
    weighted by shard size, are the whole batch's: the same weights as one process, to float rounding."""
    run_ranks(_train_toy_as_rank, tmp_path)
    two = torch.load(tmp_path / "rank0.pt", weights_only=True)
    train, val = toy_task(tmp_path / "one")
    one, result = train_toy(train, val, epochs=3, batch_size=27)
    for name, value in one.state_dict().items():
        torch.testing.assert_close(two["state"][name], value, rtol=1e-5, atol=1e-6)
    assert [h["val_accuracy"] for h in two["history"]] == [h["val_accuracy"] for h in result.history]


def _devices_here() -> list[str]:
    """cpu, and every accelerator this machine has: the real-device tests run wherever one is present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if mps_available():
        found.append("mps")
    return found


@pytest.mark.parametrize("device", _devices_here())
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_every_precision_trains_on_every_device_here(tmp_path, device, precision):
    """The mixed-precision path (autocast, loss scaling for fp16) trains for real on the CPU and on each GPU the
    machine has (CUDA, MPS), with no setting to remember."""
    train, val = toy_task(tmp_path)
    model, result = train_toy(train, val, epochs=3, runtime=resolve_runtime(device, precision))
    assert len(result.history) == 3 and all(np.isfinite(h["loss"]) for h in result.history)
    assert next(model.parameters()).device.type == "cpu"  # handed back on the CPU for export
    assert result.best_val_accuracy >= 60


def test_a_step_whose_loss_is_inf_leaves_the_schedule_where_it_was(tmp_path):
    """fp16 loss scaling skips an optimizer step whose gradients are inf; the learning-rate schedule must not move
    either, or it runs ahead of the optimizer (7 batches an epoch, the first one's loss inf)."""
    train, val = toy_task(tmp_path)
    checkpoint = tmp_path / "fit.pt"
    calls = iter(range(10**6))
    inf_first = lambda: float("inf") if next(calls) == 0 else None  # noqa: E731
    train_toy(
        train, val, epochs=1, runtime=resolve_runtime("cpu", "fp16"), checkpoint=checkpoint, loss_factor=inf_first
    )
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["scaler"]["scale"] < 2.0**16  # the scaler saw the inf and backed off: the step was skipped
    assert saved["scheduler"]["last_epoch"] == 6  # 7 batches, 6 optimizer steps
    assert next(iter(saved["optimizer"]["state"].values()))["step"] == 6


def test_training_runs_on_one_set_of_loader_workers_for_all_epochs(tmp_path, monkeypatch):
    """Worker processes start once per training run and persist across epochs (not a new pool per epoch)."""
    from edgedistill.pipeline.data import loader

    pids = tmp_path / "pids"
    read = loader._BatchReader.__getitem__

    def noting_pid(self, positions):
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return read(self, positions)

    monkeypatch.setattr(loader._BatchReader, "__getitem__", noting_pid)
    train, val = toy_task(tmp_path)
    train_toy(train, val, epochs=3, workers=2)
    workers = [pid for pid in pids.read_text().split() if pid != str(os.getpid())]  # validation reads here
    assert len(workers) == 3 * 7 and len(set(workers)) == 2


class ChannelsLastCPU(TrainRuntime):
    """The CPU with CUDA's memory format: what a CUDA run hands back, on a machine without one."""

    @property
    def channels_last(self) -> bool:
        return True


def test_a_model_trained_in_channels_last_comes_back_on_the_cpu_in_the_default_format(tmp_path):
    train, val = toy_task(tmp_path)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 2, 2), nn.Flatten())
    result = fit(
        model,
        train=train,
        pixel_max=255.0,
        loss_fn=lambda logits, idx, _b, _mix: F.cross_entropy(logits.float(), torch.from_numpy(train.y)[idx]),
        val=val,
        normalize=make_normalizer([0.5], [0.25]),
        epochs=1,
        batch_size=32,
        lr=0.05,
        weight_decay=0.0,
        seed=0,
        augment=False,
        progress=quiet(),
        label="t",
        runtime=ChannelsLastCPU(torch.device("cpu")),
    )
    conv = model[1].weight  # (2, 4, 2, 2): its channels_last layout differs from the default one
    assert conv.device.type == "cpu" and conv.is_contiguous()
    assert not conv.is_contiguous(memory_format=torch.channels_last)
    assert all(v.is_contiguous() for v in result.best_state.values())


def test_evaluation_hands_float32_logits_back_on_the_cpu_from_a_reduced_precision_run(tmp_path):
    """Evaluation runs on the training device, in its precision, and ends on the CPU in float32 (what the
    accuracy, the report and export's comparisons read)."""
    train, val = toy_task(tmp_path)
    model, _ = train_toy(train, val, epochs=2)
    fp32 = evaluate(model, val, make_normalizer([0.5], [0.25]), 255.0)
    bf16 = evaluate(model, val, make_normalizer([0.5], [0.25]), 255.0, resolve_runtime("cpu", "bf16"))
    assert bf16.device.type == "cpu" and bf16.dtype == torch.float32 and bf16.shape == (56, 2)
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() >= 0.9


def test_a_gpu_out_of_memory_error_becomes_one_line_naming_the_batch_size(tmp_path):
    train, val = toy_task(tmp_path)

    def out_of_memory():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.6 GiB total)")

    with pytest.raises(ConfigError) as caught:
        train_toy(train, val, epochs=1, loss_hook=out_of_memory)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("distillation.batch_size: 32 images per batch do not fit")
    assert "CUDA out of memory" in line and line.endswith("lower distillation.batch_size")


def test_the_checkpoint_holds_the_training_devices_random_state_and_restores_it(tmp_path, monkeypatch):
    """A resumed GPU run draws the same dropout masks as an uninterrupted one: the checkpoint keeps the CUDA
    generator's state beside the CPU's (CUDA mocked as present; the model itself stays on the CPU)."""
    from edgedistill.pipeline.distill import training

    cuda_state = torch.arange(16, dtype=torch.uint8)
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": cuda_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": restored.append((state, device)))
    cuda = TrainRuntime(torch.device("cuda", 0))

    def step_for(model):
        return training.TrainStep(
            model,
            list(model.parameters()),
            lambda *_: torch.zeros(()),
            make_normalizer([0.5], [0.25]),
            runtime=cuda,
            lr=0.1,
            weight_decay=0.0,
            total_steps=4,
            generator=torch.Generator().manual_seed(0),
            pixel_max=255.0,
            views=ViewPolicy(shift=False),
        )

    model = nn.Linear(4, 2)
    result = training.FitResult(best_state=model.state_dict(), best_val_accuracy=50.0, best_epoch=1)
    path = tmp_path / "fit.pt"
    training._save_checkpoint(path, {"n": 1}, 1, model, None, step_for(model), result)
    saved = training._load_checkpoint(path, {"n": 1})
    assert torch.equal(saved["rng"]["cuda"], cuda_state) and torch.equal(saved["rng"]["cpu"], torch.get_rng_state())
    assert training._restore(saved, model, None, step_for(model), result) == 2
    assert len(restored) == 1 and torch.equal(restored[0][0], cuda_state) and restored[0][1] == torch.device("cuda", 0)


def test_asking_for_a_missing_accelerator_fails_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"distillation.device: cuda is not available here"):
        resolve_runtime("cuda", "fp32")
    assert resolve_runtime("auto", "fp32").device.type in ("cpu", "mps")
