"""Conformance checks for Sampler."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch

from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, view_for
from scorekit.testing._common import (
    DTYPES,
    EVENT_SHAPES,
    ModelFactory,
    _check_accepts,
    _on,
    _reference_model,
    _require,
    _seeded,
)


def check_sampler(
    sampler: Sampler,
    *,
    schedule: NoiseSchedule | None,
    event_shapes: Sequence[tuple[int, ...]] = EVENT_SHAPES,
    dtypes: Sequence[torch.dtype] = DTYPES,
    num: int = 4,
    device: torch.device | str = "cpu",
    model_factory: ModelFactory | None = None,
) -> None:
    """Check the Sampler contract, calling ``sample`` under ``torch.no_grad`` as the engine does.

    - ``sampler.check(schedule)`` accepts ``schedule``, and rejects None with a ConfigError when
      ``needs_schedule``;
    - for every event shape and dtype, with a model built by ``model_factory(event_shape, dtype)``
      (a :class:`ReferenceScoreModel` by default): samples of shape (num, *event), in the requested
      dtype, on ``device``, finite, not requiring grad;
    - the model's parameters are unchanged and have no gradient;
    - the same generator seed gives identical samples whatever the global RNG's state, and another
      seed different ones (every sampler draws its initial state from ``generator``);
    - ``num_evaluations(schedule)``, when not None, is the number of model calls one ``sample``
      makes (the engine shows progress against it); ``prior_std(schedule)`` is None or a positive
      finite number.

    Keep the sampler's steps few (``num_steps = 5``) so the check takes milliseconds.

    Example::

        check_sampler(registry.get("sampler", "langevin").build(config), schedule=None)
    """
    name = type(sampler).__name__
    factory = model_factory or _reference_model
    _check_accepts(sampler, schedule)
    for event_shape in event_shapes:
        for dtype in dtypes:
            where = f"event shape {event_shape}, {dtype}"
            model = factory(event_shape, dtype).to(device)
            before = {k: v.detach().clone() for k, v in model.state_dict().items()}
            shape = (num, *event_shape)

            draw = functools.partial(_call_sampler, sampler, model, shape, schedule, device, dtype)
            x = _seeded(draw, seed=0, global_seed=1, device=device)
            _require(isinstance(x, torch.Tensor), name, f"returned a {type(x).__name__}, not a tensor")
            _require(x.shape == shape, name, f"returned shape {tuple(x.shape)}, expected {shape} ({where})")
            _require(x.dtype == dtype, name, f"returned {x.dtype} samples when {dtype} was requested ({where})")
            _require(_on(x, device), name, f"returned samples on {x.device}, expected {device} ({where})")
            _require(bool(torch.isfinite(x).all()), name, f"returned non-finite samples ({where})")
            _require(not x.requires_grad, name, f"returned samples that require grad ({where})")
            for key, value in model.state_dict().items():
                _require(torch.equal(value, before[key]), name, f"changed the model's {key} ({where})")
            for param_name, param in model.named_parameters():
                _require(param.grad is None, name, f"left a gradient on the model's {param_name} ({where})")
            again = _seeded(draw, seed=0, global_seed=2, device=device)
            _require(torch.equal(x, again), name, f"gave different samples for the same generator seed ({where})")
            other = _seeded(draw, seed=1, global_seed=1, device=device)
            _require(not torch.equal(x, other), name, f"gave identical samples for different seeds ({where})")
            _check_evaluations(sampler, model, shape, schedule, device, dtype, where)
    std = sampler.prior_std(schedule)
    _require(
        std is None or (isinstance(std, float) and math.isfinite(std) and std > 0),
        name,
        f"prior_std returned {std!r}, expected None or a positive finite float",
    )


def _check_evaluations(
    sampler: Sampler,
    model: ScoreModel,
    shape: tuple[int, ...],
    schedule: NoiseSchedule | None,
    device: torch.device | str,
    dtype: torch.dtype,
    where: str,
) -> None:
    declared = sampler.num_evaluations(schedule)
    if declared is None:
        return
    calls = [0]

    def count(module: torch.nn.Module, args: Any, output: Any) -> None:
        calls[0] += 1

    handle = model.register_forward_hook(count)
    try:
        draw = functools.partial(_call_sampler, sampler, model, shape, schedule, device, dtype)
        _seeded(draw, seed=0, global_seed=1, device=device)
    finally:
        handle.remove()
    _require(
        calls[0] == declared,
        type(sampler).__name__,
        f"num_evaluations says {declared} model calls, but sample() made {calls[0]} ({where})",
    )


def _call_sampler(
    sampler: Sampler,
    model: ScoreModel,
    shape: tuple[int, ...],
    schedule: NoiseSchedule | None,
    device: torch.device | str,
    dtype: torch.dtype,
    g: torch.Generator,
) -> Any:
    """One draw as the engine makes it: under torch.no_grad, the model seen through the sampler's prediction."""
    if sampler.parametrization not in KERNEL_PARAMETRIZATIONS:
        model.parametrization = sampler.parametrization  # type: ignore[misc]  # the reference stands in
    model = view_for(model, sampler, schedule)
    with torch.no_grad():
        return sampler.sample(model, shape, schedule=schedule, generator=g, device=device, dtype=dtype)
