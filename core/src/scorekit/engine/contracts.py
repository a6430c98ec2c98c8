"""Components' outputs checked where the engine receives them, so a broken plugin is one line naming it.

A model is tried once on a batch of two when it is built; a loss's value, a sampler's samples and a
likelihood's log-densities are checked each time they come back (a type, shape and dtype comparison:
nothing measurable next to the work that produced them). An exception from inside a component that
is not one of scorekit's own errors becomes a :class:`ComponentError` with the component's name and
the exception's first line; scorekit's own errors (a ConfigError a sampler raises for its settings)
pass through unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from scorekit.errors import ComponentError, ScorekitError

__all__ = ["blame", "check_loss_value", "check_model", "check_returned"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@contextlib.contextmanager
def blame(who: str) -> Iterator[None]:
    """Turn an exception raised inside ``who`` ("the sampler Foo") into a one-line ComponentError."""
    try:
        yield
    except (ScorekitError, KeyboardInterrupt, MemoryError):
        raise
    except (Exception, SystemExit, GeneratorExit) as exc:  # sys.exit() in a plugin's component is its failure
        raise ComponentError(f"{who} failed: {_first_line(exc)}") from exc


def check_returned(value: Any, who: str, what: str, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> None:
    """``value`` must be a floating-point tensor of ``shape`` (and ``dtype`` when given)."""
    if not isinstance(value, torch.Tensor):
        raise ComponentError(f"{who} returned a {type(value).__name__} as its {what}, not a tensor")
    if tuple(value.shape) != tuple(shape):
        raise ComponentError(f"{who} returned {what} of shape {tuple(value.shape)}, expected {tuple(shape)}")
    if not value.is_floating_point() or (dtype is not None and value.dtype != dtype):
        expected = str(dtype).removeprefix("torch.") if dtype is not None else "floating point"
        raise ComponentError(
            f"{who} returned {what} of dtype {str(value.dtype).removeprefix('torch.')}, expected {expected}"
        )


def check_loss_value(value: Any, who: str) -> None:
    """A loss returns one number that autograd can differentiate."""
    if not isinstance(value, torch.Tensor):
        raise ComponentError(f"{who} returned a {type(value).__name__}, not a tensor")
    if value.numel() != 1 or value.ndim > 1:
        raise ComponentError(f"{who} returned a tensor of shape {tuple(value.shape)}; a loss returns a scalar")
    if not value.requires_grad:
        raise ComponentError(f"{who} returned a value without a gradient (computed without the model, or detached)")


def check_model(
    model: torch.nn.Module, event_shape: tuple[int, ...], t: float, device: torch.device, call: Callable[..., Any]
) -> None:
    """One forward pass of ``model`` on two zero points at level ``t`` (in eval mode, without a graph):
    a floating-point tensor of the input's shape and dtype, or a ComponentError naming the model."""
    who = f"the model {type(model).__name__}"
    x = torch.zeros((2, *event_shape), device=device)
    times = torch.full((2,), float(t), device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), blame(who):
            out = call(x, times)
    finally:
        model.train(was_training)
    check_returned(out, who, "output", tuple(x.shape), torch.float32)
