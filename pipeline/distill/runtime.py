"""Where and in what arithmetic training runs: `distillation.device` (auto: CUDA, then MPS, then CPU) and
`distillation.precision` (fp32, or bf16/fp16 autocast, with loss scaling for fp16). channels_last on
CUDA, where convolutions are faster in it; on the CPU the memory format stays as it is. Also what a run on
an accelerator needs beyond that: each rank's own GPU, the device's random state for resuming, and a GPU
running out of memory told as one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from edgedistill.errors import ConfigError
from edgedistill.pipeline.distill.world import World, current_world

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainRuntime:
    device: torch.device
    precision: str = "fp32"

    @property
    def channels_last(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """The forward pass's context: autocast to bf16/fp16, or nothing for fp32."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=DTYPES[self.precision])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        module = module.to(self.device)
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        return f"{name}, {self.precision}"


CPU = TrainRuntime(torch.device("cpu"))


def mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_runtime(device: str = "auto", precision: str = "fp32", world: World | None = None) -> TrainRuntime:
    """The configured device, checked against this machine and the processes of the run (default: the current
    world): asking for one it lacks fails in one line, and in a distributed world every rank trains on a GPU of
    its own (cuda:LOCAL_RANK)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    dev = torch.device(device)
    world = world or current_world()
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"distillation.device: {device} is not available here (torch {torch.__version__}, no CUDA device)"
            )
        count = torch.cuda.device_count()
        if world.distributed:
            if dev.index is not None:
                raise ConfigError(
                    f"distillation.device: {device} names one GPU, but {world.size} training processes each need "
                    "their own; use cuda (each process takes cuda:LOCAL_RANK) and choose the GPUs with "
                    "CUDA_VISIBLE_DEVICES"
                )
            if world.local_rank >= count:
                raise ConfigError(
                    f"distillation.device: cuda: process {world.local_rank} of this machine has no GPU of its own "
                    f"({count} CUDA device(s) here); start at most {count} processes per machine"
                )
            dev = torch.device("cuda", world.local_rank)
        elif dev.index is not None and dev.index >= count:
            raise ConfigError(f"distillation.device: {device} does not exist ({count} CUDA device(s))")
    if dev.type == "mps":
        if not mps_available():
            raise ConfigError("distillation.device: mps is not available here")
        if world.distributed:
            raise ConfigError("distillation.device: mps trains in one process (one Apple GPU); drop --nproc")
    return TrainRuntime(dev, precision)


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The random state a resumed run needs: the CPU's, and the training device's own (CUDA, MPS), whose
    generators draw dropout masks and any random op run there."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Put back what rng_state saved; a device's state only where this run trains on that kind of device (a run
    resumed on another kind of device continues with that device's own generator)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    if "mps" in state and device.type == "mps":
        torch.mps.set_rng_state(state["mps"])


BATCH_SIZE_FIELD = "distillation.batch_size"


@contextlib.contextmanager
def out_of_memory_hint(batch_size: int, device: torch.device) -> Iterator[None]:
    """Turn a GPU out-of-memory error into one line that names the batch size to lower."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise ConfigError(_oom_line(batch_size, device, exc)) from None
    except RuntimeError as exc:  # MPS reports running out of memory as a plain RuntimeError
        if "out of memory" not in str(exc).lower():
            raise
        raise ConfigError(_oom_line(batch_size, device, exc)) from None


def _oom_line(batch_size: int, device: torch.device, exc: Exception) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return (
        f"{BATCH_SIZE_FIELD}: {batch_size} images per batch do not fit in the memory of {device} ({first}); "
        f"lower {BATCH_SIZE_FIELD}"
    )
