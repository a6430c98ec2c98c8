"""Checkpoint contents checked against the run before anything uses them.

A checkpoint is outside input: a file can be damaged, written by another version, or tampered
with. ``read_checkpoint`` checks that it is a scorekit safetensors file; this module checks that
its tensors are the ones this run's model, EMA and optimizer hold — every name, shape, dtype, and
finite values — and that its metadata is in range, so that a wrong file is one CheckpointError
naming what is wrong instead of a crash (a fused optimizer reading an Adam moment of the wrong shape
reads out of bounds) or silently wrong numbers (int8 weights cast on load, a tampered event shape).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from scorekit.engine.checkpoint import MAX_STEP, Checkpoint
from scorekit.errors import CheckpointError

__all__ = [
    "Spec",
    "check_event_shape",
    "check_optimizer_complete",
    "check_tensors",
    "check_training_meta",
    "model_specs",
    "training_specs",
]

#: (shape, dtype) a tensor must have.
Spec = tuple[tuple[int, ...], torch.dtype]
_ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq")


def _spec(tensor: torch.Tensor) -> Spec:
    return tuple(tensor.shape), tensor.dtype


def _describe(spec: Spec) -> str:
    shape, dtype = spec
    return f"{str(dtype).removeprefix('torch.')} {tuple(shape)}"


def model_specs(model: torch.nn.Module, *, ema: bool) -> tuple[dict[str, Spec], dict[str, Spec]]:
    """(required, optional) tensor specs of a model's checkpoint: ``model/*`` required, ``ema/*`` as a whole
    required when ``ema`` (training with an EMA), optional otherwise (sampling reads it if present)."""
    required = {f"model/{k}": _spec(v) for k, v in model.state_dict().items()}
    averaged = {f"ema/{i}": _spec(p) for i, p in enumerate(model.parameters())}
    return ({**required, **averaged}, {}) if ema else (required, averaged)


def check_tensors(
    checkpoint: Checkpoint,
    required: Mapping[str, Spec],
    optional: Mapping[str, Spec] = {},
    *,
    groups: tuple[str, ...],
    where: str,
    optional_all_or_none: bool = False,
) -> None:
    """Every tensor under ``groups`` ("model", "ema", ...) is required or optional with its exact shape and
    dtype, every required one is present, and floating-point values are finite; CheckpointError otherwise.
    With ``optional_all_or_none`` the optional tensors (EMA weights read for sampling) come complete or not at all.
    """
    specs = {**optional, **required}
    for name, tensor in checkpoint.tensors.items():
        if not name.startswith(tuple(f"{group}/" for group in groups)):
            continue
        expected = specs.get(name)
        if expected is None:
            raise CheckpointError(f"{where}: unexpected tensor {name!r} (not in this run's model or optimizer)")
        if _spec(tensor) != expected:
            raise CheckpointError(
                f"{where}: tensor {name!r} is {_describe(_spec(tensor))}, this run needs {_describe(expected)}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{where}: tensor {name!r} holds NaN or infinite values")
    missing = [name for name in required if name not in checkpoint.tensors]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"{where}: tensor {missing[0]!r}{more} missing")
    present_optional = [name for name in optional if name in checkpoint.tensors]
    if optional_all_or_none and present_optional and len(present_optional) != len(optional):
        raise CheckpointError(f"{where}: the EMA weights are incomplete ({len(present_optional)} of {len(optional)})")


def training_specs(
    parameters: Sequence[torch.Tensor], generator_state: torch.Tensor, world_size: int
) -> tuple[dict[str, Spec], dict[str, Spec]]:
    """(required, optional) specs of the optimizer and RNG tensors: Adam's moments of parameter i are optional
    (a parameter that never had a gradient has none) but all three or none; the RNG states required."""
    optional: dict[str, Spec] = {}
    for index, p in enumerate(parameters):
        optional[f"optimizer/{index}/step"] = ((), torch.float32)
        optional[f"optimizer/{index}/exp_avg"] = _spec(p)
        optional[f"optimizer/{index}/exp_avg_sq"] = _spec(p)
    required = {f"rng/train/{rank}": _spec(generator_state) for rank in range(world_size)}
    required["rng/torch"] = _spec(torch.get_rng_state())
    return required, optional


def check_optimizer_complete(checkpoint: Checkpoint, where: str) -> None:
    """Adam's state of each parameter: all of step, exp_avg, exp_avg_sq, or none; steps finite and ≥ 0."""
    indices: dict[str, set[str]] = {}
    for name in checkpoint.tensors:
        if name.startswith("optimizer/"):
            _, index, key = name.split("/", 2)
            indices.setdefault(index, set()).add(key)
    for index, keys in indices.items():
        if keys != set(_ADAM_KEYS):
            raise CheckpointError(f"{where}: the optimizer state of parameter {index} is incomplete ({sorted(keys)})")
        step = float(checkpoint.tensors[f"optimizer/{index}/step"])
        if not (0 <= step <= MAX_STEP):
            raise CheckpointError(f"{where}: the optimizer step of parameter {index} is {step}, out of range")


def check_training_meta(checkpoint: Checkpoint, live_groups: Sequence[Mapping[str, Any]], where: str) -> None:
    """The metadata a resume reads: world size, skipped steps, optimizer groups, RNG states, grad scaler.

    The optimizer's groups must be this run's (``live_groups``, a fresh optimizer's): the same settings
    (betas, eps, weight decay, the implementation flags: all come from the config, which a resume keeps)
    and the same parameters; only the learning rate may differ, a finite number ≥ 0 (the schedule sets it).
    """
    meta = checkpoint.meta
    _integer(meta.get("world_size", 1), "world_size", 1, 1 << 16, where)
    _integer(meta.get("skipped_steps", 0), "skipped_steps", 0, checkpoint.step, where)
    groups = meta.get("optimizer_groups")
    if not (isinstance(groups, list) and len(groups) == len(live_groups) and all(isinstance(g, dict) for g in groups)):
        raise CheckpointError(f"{where}: the optimizer's parameter groups are malformed")
    for group, live in zip(groups, live_groups, strict=True):
        lr = group.get("lr")
        if not (isinstance(lr, int | float) and not isinstance(lr, bool) and math.isfinite(lr) and lr >= 0):
            raise CheckpointError(f"{where}: optimizer setting 'lr' is not finite")
        if set(group) != set(live):
            raise CheckpointError(
                f"{where}: the optimizer's settings {sorted(set(group) ^ set(live))} do not fit this run"
            )
        for key, value in live.items():
            expected = list(value) if isinstance(value, tuple) else value
            if key != "lr" and group[key] != expected:
                raise CheckpointError(
                    f"{where}: optimizer setting {key!r} is {group[key]!r}, this run's is {expected!r}"
                )
    python = meta.get("python_random")
    if not (
        isinstance(python, list)
        and len(python) == 3
        and isinstance(python[1], list)
        and len(python[1]) == 625
        and all(isinstance(v, int) and 0 <= v < 2**32 for v in python[1])
    ):
        raise CheckpointError(f"{where}: the Python RNG state is malformed")
    numpy = meta.get("numpy_random")
    if not (
        isinstance(numpy, list)
        and len(numpy) == 5
        and numpy[0] == "MT19937"
        and isinstance(numpy[1], list)
        and len(numpy[1]) == 624
        and all(isinstance(v, int) and 0 <= v < 2**32 for v in numpy[1])
        and isinstance(numpy[2], int)
        and 0 <= numpy[2] <= 624
    ):
        raise CheckpointError(f"{where}: the NumPy RNG state is malformed")
    scaler = meta.get("grad_scaler")
    if scaler is not None and not isinstance(scaler, dict):
        raise CheckpointError(f"{where}: the gradient scaler's state is malformed")


def check_event_shape(value: Any, where: str, expected: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The checkpoint's ``event_shape``: 1 to 4 positive dimensions of at most 10⁸ elements in all, and
    equal to the data's ``expected`` when known."""
    if not (
        isinstance(value, list)
        and 1 <= len(value) <= 4
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10**6 for v in value)
        and math.prod(value) <= 10**8
    ):
        raise CheckpointError(f"{where}: event_shape {value!r} is not a data shape")
    shape = tuple(value)
    if expected is not None and shape != tuple(expected):
        raise CheckpointError(f"{where}: event_shape {list(shape)} does not match the run's data {list(expected)}")
    return shape


def _integer(value: Any, name: str, low: int, high: int, where: str) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise CheckpointError(f"{where}: {name} = {value!r} is out of range [{low}, {high}]")
    return value
