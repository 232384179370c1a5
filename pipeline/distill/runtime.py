"""Where and in what arithmetic training runs: `distillation.device` (auto: CUDA, then MPS, then CPU) and
`distillation.precision` (fp32, or bf16/fp16 autocast, with loss scaling for fp16). channels_last on
CUDA, where convolutions are faster in it; on the CPU the memory format stays as it is, so CPU results
equal those of earlier versions bit for bit."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from edgedistill.errors import ConfigError
from edgedistill.pipeline.distill.world import current_world

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


def resolve_runtime(device: str = "auto", precision: str = "fp32") -> TrainRuntime:
    """The configured device, checked against this machine: asking for one it lacks fails in one line."""
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    dev = torch.device(device)
    world = current_world()
    if dev.type == "cuda" and dev.index is None and world.distributed:
        dev = torch.device("cuda", world.local_rank)  # one GPU per rank of a torchrun launch
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"distillation.device: {device} is not available here (torch {torch.__version__}, no CUDA device)"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"distillation.device: {device} does not exist ({torch.cuda.device_count()} CUDA device(s))"
            )
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ConfigError("distillation.device: mps is not available here")
    return TrainRuntime(dev, precision)
