"""The conversion on the way into a loss or likelihood: interfaces wrap their subclasses' entry points."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__scorekit_converts__"


def converting(method: F, *, no_grad: bool = False) -> F:
    """``method(self, model, ...)`` with ``model`` seen through ``self.parametrization`` first.

    :func:`scorekit.parametrization.view_for` returns the model itself when it already predicts what
    the component consumes (the engine's own view does), so wrapping twice converts once. With
    ``no_grad`` (samplers) the call runs under ``torch.no_grad``, as the engine runs it; the
    undecorated method stays reachable as ``method.__wrapped__`` for a caller who wants gradients.
    """
    if getattr(method, _MARK, False):
        return method

    @functools.wraps(method)
    def wrapper(self: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        import torch

        from scorekit.parametrization import view_for  # the module imports the interfaces

        with torch.no_grad() if no_grad else contextlib.nullcontext():
            return method(self, view_for(model, self, kwargs.get("schedule")), *args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper  # type: ignore[return-value]
