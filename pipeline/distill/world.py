"""The processes one training runs on: one, or a torch.distributed group started by torchrun (or by
`edgedistill build --nproc N`, which starts torchrun's launcher itself). Gloo on the CPU, NCCL on CUDA.

Rank 0 is the main process: it alone writes the cache, build/ and the console. The others train their
shard of every batch and follow rank 0's decisions (cache hits, the epoch to resume from).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's value, on every rank."""
        if not self.distributed:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's value (picklable), in rank order, on every rank."""
        if not self.distributed:
            return [value]
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, value)
        return gathered

    def shard(self, batch: Any) -> Any:
        """This rank's part of a global batch of positions (every size-th, from its rank), as DistributedSampler
        deals them: the ranks together see the batch once, so the step equals one process's on the whole batch."""
        return batch[self.rank :: self.size] if self.distributed else batch


SINGLE = World()
_world = SINGLE


def env_world() -> World:
    """The world torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK), or a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def join_world(device: str = "auto") -> World:
    """Join the process group of a torchrun launch (a no-op for one process); every later current_world() is it.
    NCCL when this rank trains on CUDA, gloo otherwise."""
    global _world
    world = env_world()
    if world.distributed and not dist.is_initialized():
        from edgedistill.pipeline.distill.runtime import resolve_runtime

        train_on = resolve_runtime(device, world=world).device  # a rank without a GPU of its own fails here
        if train_on.type == "cuda":
            torch.cuda.set_device(train_on)
        backend = "nccl" if train_on.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=60))
    _world = world
    return world


def current_world() -> World:
    return _world


def leave_world() -> None:
    global _world
    if dist.is_initialized():
        dist.destroy_process_group()
    _world = SINGLE
