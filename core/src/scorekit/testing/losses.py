"""Conformance checks for Loss."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.testing._common import (
    DTYPES,
    EVENT_SHAPES,
    ModelFactory,
    _check_accepts,
    _generator,
    _reference_model,
    _require,
    _seeded,
)


def check_loss(
    loss: Loss,
    *,
    schedule: NoiseSchedule | None = None,
    event_shapes: Sequence[tuple[int, ...]] = EVENT_SHAPES,
    dtypes: Sequence[torch.dtype] = DTYPES,
    batch_size: int = 8,
    model_factory: ModelFactory | None = None,
) -> bool:
    """Check the Loss contract; returns whether the loss is stochastic.

    - ``loss.check(schedule)`` accepts ``schedule``, and rejects None with a ConfigError when
      ``needs_schedule``;
    - for every event shape and dtype, on a batch (B, *event) and a model built by
      ``model_factory(event_shape, dtype)`` (a :class:`ReferenceScoreModel` by default): a finite
      scalar tensor of the input's dtype, whose backward gives every model parameter a finite
      gradient, with ``x0`` left unchanged;
    - the same generator seed gives the identical value, whatever the state of the global RNG
      (all randomness comes from ``generator``).

    Stochasticity is detected, not declared: a loss whose value differs between two seeds is
    stochastic; one that gives equal values is taken to be deterministic (implicit score matching
    with the exact trace), and the seed-inequality check is then skipped.

    Example::

        assert check_loss(registry.get("loss", "ncsn").build(config), schedule=schedule)  # stochastic
    """
    name = type(loss).__name__
    factory = model_factory or _reference_model
    _check_accepts(loss, schedule)
    stochastic = False
    for event_shape in event_shapes:
        for dtype in dtypes:
            where = f"event shape {event_shape}, {dtype}"
            model = factory(event_shape, dtype)
            x0 = torch.randn((batch_size, *event_shape), generator=_generator(1234), dtype=dtype)
            x0_before = x0.clone()
            call = functools.partial(_call_loss, loss, model, x0, schedule)
            value = _seeded(call, seed=0, global_seed=1)
            _require(isinstance(value, torch.Tensor), name, f"returned a {type(value).__name__}, not a tensor")
            _require(value.ndim == 0, name, f"returned shape {tuple(value.shape)}, not a scalar ({where})")
            _require(value.dtype == dtype, name, f"returned a {value.dtype} value for {dtype} input ({where})")
            _require(bool(torch.isfinite(value)), name, f"returned a non-finite value {value.item()} ({where})")
            _require(torch.equal(x0, x0_before), name, f"modified its input x0 in place ({where})")
            model.zero_grad(set_to_none=True)
            value.backward()
            for param_name, param in model.named_parameters():
                _require(param.grad is not None, name, f"gave no gradient to the model's {param_name} ({where})")
                assert param.grad is not None
                _require(
                    bool(torch.isfinite(param.grad).all()),
                    name,
                    f"gave a non-finite gradient to {param_name} ({where})",
                )
            with torch.no_grad():
                again = _seeded(call, seed=0, global_seed=2)
                other = _seeded(call, seed=1, global_seed=1)
            _require(
                torch.equal(value.detach(), again),
                name,
                f"gave {value.item()!r} and {again.item()!r} for the same generator seed ({where}); "
                "draw all randomness from `generator`",
            )
            stochastic = stochastic or not torch.equal(value.detach(), other)
    return stochastic


def _call_loss(
    loss: Loss, model: ScoreModel, x0: torch.Tensor, schedule: NoiseSchedule | None, g: torch.Generator
) -> Any:
    return loss(model, x0, schedule=schedule, generator=g)
