"""torch.distributed, when the process was launched by torchrun: gloo on CPU, nccl on CUDA.

scorekit does not launch or coordinate processes itself; torchrun does (``torchrun
--nproc_per_node=N -m scorekit train …``, or ``scorekit train --nproc N`` which calls it). This
module reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), starts the
process group, and answers "which rank am I" for the engine. A plain ``scorekit train`` is the
world of one, with no process group.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import torch
import torch.distributed as dist

from scorekit.errors import ConfigError

__all__ = ["World", "init_world"]


@attrs.frozen
class World:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes checkpoints, metrics and pictures."""
        return self.rank == 0

    def all_gather_objects(self, value: Any) -> list[Any]:
        if not self.distributed:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a scalar tensor (itself in a world of one)."""
        if not self.distributed:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def shutdown(self) -> None:
        if self.distributed and dist.is_initialized():
            # Every rank reaches this point before any tears its connections down; without the
            # barrier gloo could abort a rank whose peer had already destroyed the group.
            dist.barrier()
            dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def init_world(device: torch.device) -> World:
    """Join the process group torchrun set up, or return the world of one.

    The backend follows the device: nccl for CUDA, gloo otherwise. With CUDA each process uses
    the GPU of its LOCAL_RANK.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return World()
    world = World(_env_int("RANK", 0), world_size, _env_int("LOCAL_RANK", 0))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(world.local_rank)
        try:
            dist.init_process_group(backend=backend)
        except (ValueError, RuntimeError) as exc:  # WORLD_SIZE set without the rest of torchrun's environment
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"WORLD_SIZE={world_size} asks for distributed training, but the process group cannot start "
                f"({first}); start through torchrun or scorekit train --nproc, or unset WORLD_SIZE"
            ) from None
    return world
