"""Conformance checks for Loss."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, convert, view_for
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
      (all randomness comes from ``generator``);
    - one objective whatever the network predicts: on four models of the same function that output
      the score, ε, x₀ and v (through the kernel of ``loss.kernel_schedule(schedule)``), each handed
      to the loss as the engine does (:func:`scorekit.parametrization.view_for`), the loss gives the
      same value and gradients (float64). A loss with no kernel (``kernel_schedule`` None) must be
      refused every model but one of its own prediction, with a ConfigError.

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
            call = functools.partial(_call_loss, loss, _as_engine_hands_it(model, loss, schedule), x0, schedule)
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
        _check_predictions(loss, schedule, event_shape, batch_size, name)
    return stochastic


def _as_engine_hands_it(model: ScoreModel, loss: Loss, schedule: NoiseSchedule | None) -> ScoreModel:
    if loss.parametrization not in KERNEL_PARAMETRIZATIONS:
        # A model-specific prediction (a CNF's velocity) has no conversion: the reference stands in for it.
        model.parametrization = loss.parametrization  # type: ignore[misc]
        return model
    return view_for(model, loss, schedule)


class _Predicting(ScoreModel):
    """A network of the reference score function that outputs ``prediction`` instead (through ``kernel``)."""

    def __init__(self, base: ScoreModel, prediction: str, kernel: NoiseSchedule) -> None:
        super().__init__()
        self.base, self.kernel = base, kernel
        self.parametrization = prediction  # type: ignore[misc]
        self.event_shape = base.event_shape

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self.kernel.kernel(t)
        return convert(self.base(x, t), x, a, s, source="score", target=self.parametrization)


def _check_predictions(
    loss: Loss, schedule: NoiseSchedule | None, event_shape: tuple[int, ...], batch_size: int, name: str
) -> None:
    kernel = loss.kernel_schedule(schedule)
    if loss.parametrization not in KERNEL_PARAMETRIZATIONS:
        return  # a model-specific prediction (a CNF's velocity): nothing converts to it
    if kernel is None:
        for prediction in KERNEL_PARAMETRIZATIONS:
            if prediction != loss.parametrization:
                model = _reference_model(event_shape, torch.float64)
                model.parametrization = prediction  # type: ignore[misc]
                try:
                    view_for(model, loss, schedule)
                except ConfigError:
                    continue
                raise AssertionError(f"{name}: kernel_schedule is None, yet a {prediction!r} model was accepted")
        return
    x0 = torch.randn((batch_size, *event_shape), generator=_generator(99), dtype=torch.float64)
    results = {}
    for prediction in KERNEL_PARAMETRIZATIONS:
        base = _reference_model(event_shape, torch.float64)  # the same parameters every time
        model = view_for(_Predicting(base, prediction, kernel), loss, schedule)
        value = _seeded(functools.partial(_call_loss, loss, model, x0, schedule), seed=0, global_seed=1)
        value.backward()
        results[prediction] = (value.detach(), [p.grad for p in base.parameters()])
    own_value, own_grads = results[loss.parametrization]
    for prediction, (value, grads) in results.items():
        _require(
            bool(torch.allclose(value, own_value, rtol=1e-6, atol=1e-10)),
            name,
            f"gave {value.item()!r} on a model predicting {prediction!r} and {own_value.item()!r} on the same "
            f"function predicting {loss.parametrization!r} (event shape {event_shape}); compute the objective on "
            "the prediction the loss declares (Loss.parametrization) and let the engine convert",
        )
        for grad, own in zip(grads, own_grads, strict=True):
            _require(
                grad is not None and own is not None and bool(torch.allclose(grad, own, rtol=1e-5, atol=1e-9)),
                name,
                f"gave other gradients on a model predicting {prediction!r} than on the same function predicting "
                f"{loss.parametrization!r} (event shape {event_shape})",
            )


def _call_loss(
    loss: Loss, model: ScoreModel, x0: torch.Tensor, schedule: NoiseSchedule | None, g: torch.Generator
) -> Any:
    return loss(model, x0, schedule=schedule, generator=g)
