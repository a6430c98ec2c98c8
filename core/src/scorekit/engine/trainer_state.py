"""What a trainer writes into a checkpoint and how a resume restores it, checked before anything is loaded."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from scorekit.engine.checkpoint import Checkpoint
from scorekit.engine.checkpoint_check import (
    check_optimizer_complete,
    check_tensors,
    check_training_meta,
    model_specs,
    training_specs,
)
from scorekit.engine.state import as_numpy_state, as_python_state, numpy_random_state, python_random_state
from scorekit.errors import CheckpointError

if TYPE_CHECKING:
    from scorekit.engine.trainer import Trainer

__all__ = ["restore", "training_state"]


def training_state(trainer: Trainer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in trainer.model.state_dict().items()}
    if trainer.ema is not None:
        tensors.update({f"ema/{k}": v for k, v in trainer.ema.state_dict().items()})
    optimizer_state = trainer.optimizer.state_dict()
    for index, state in optimizer_state["state"].items():
        for key, value in state.items():
            tensors[f"optimizer/{index}/{key}"] = torch.as_tensor(value)
    for rank, state in enumerate(trainer.world.all_gather_objects(trainer.generator.get_state().cpu())):
        tensors[f"rng/train/{rank}"] = state
    tensors["rng/torch"] = torch.get_rng_state()
    meta = {
        "world_size": trainer.world.world_size,
        "skipped_steps": trainer.skipped,
        "optimizer_groups": optimizer_state["param_groups"],
        "grad_scaler": trainer.scaler.state_dict() if trainer.scaler is not None else None,
        "python_random": python_random_state(),
        "numpy_random": numpy_random_state(),
    }
    return tensors, meta


def restore(trainer: Trainer, checkpoint: Checkpoint) -> None:
    """Restore everything a resume needs; a checkpoint that does not fit is a CheckpointError.

    Every tensor is checked against this run's model, EMA, optimizer and RNG states (names,
    shapes, dtypes, finite values) and the metadata against its ranges before anything is loaded.
    """
    saved_world = checkpoint.meta.get("world_size", 1)
    if saved_world != trainer.world.world_size:
        raise CheckpointError(
            f"the checkpoint at step {checkpoint.step} was written by {saved_world} process(es); "
            f"resume it with the same number (this run has {trainer.world.world_size})"
        )
    where = f"the checkpoint at step {checkpoint.step}"
    required, optional = model_specs(trainer.model, ema=trainer.ema is not None)
    more_required, more_optional = training_specs(
        trainer.parameters, trainer.generator.get_state(), trainer.world.world_size
    )
    check_tensors(
        checkpoint,
        {**required, **more_required},
        {**optional, **more_optional},
        groups=("model", "ema", "optimizer", "rng"),
        where=where,
    )
    check_optimizer_complete(checkpoint, where)
    check_training_meta(checkpoint, trainer.optimizer.state_dict()["param_groups"], where)
    try:
        _load(trainer, checkpoint)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"the checkpoint at step {checkpoint.step} does not fit this run ({type(exc).__name__}: {first_line})"
        ) from None


def _load(trainer: Trainer, checkpoint: Checkpoint) -> None:
    trainer.model.load_state_dict(checkpoint.group("model"))
    if trainer.ema is not None:
        trainer.ema.load_state_dict(checkpoint.group("ema"))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in checkpoint.group("optimizer").items():
        index, _, key = name.partition("/")
        state.setdefault(int(index), {})[key] = value if key == "step" else value.to(trainer.device)
    trainer.optimizer.load_state_dict({"state": state, "param_groups": checkpoint.meta["optimizer_groups"]})
    if trainer.scaler is not None and checkpoint.meta.get("grad_scaler"):
        trainer.scaler.load_state_dict(checkpoint.meta["grad_scaler"])
    trainer.generator.set_state(checkpoint.tensors[f"rng/train/{trainer.world.rank}"])
    torch.set_rng_state(checkpoint.tensors["rng/torch"])
    random.setstate(as_python_state(checkpoint.meta["python_random"]))
    np.random.set_state(as_numpy_state(checkpoint.meta["numpy_random"]))
    trainer.step = trainer.start_step = checkpoint.step
    trainer.skipped = int(checkpoint.meta.get("skipped_steps", 0))
