"""What the Python API and the runner accept as points and labels: checked, converted, one-line errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from scorekit.condition import Condition, labels_from
from scorekit.errors import UserError
from scorekit.interfaces import ScoreModel

__all__ = ["as_points", "condition_of"]


def as_points(x: Any, event_shape: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
    """``x`` (a tensor, a NumPy array or nested lists; any real dtype) as float32 (N, *event), and
    whether it was a single point of shape ``event_shape``. Raises UserError for other shapes,
    non-numbers and NaN or infinite values."""
    if not isinstance(x, torch.Tensor):
        import numpy as np

        try:
            array = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise UserError(f"input is not an array of numbers ({exc})") from None
        if array.dtype.kind not in "biuf":
            raise UserError(f"input must hold real numbers, got dtype {array.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    elif x.is_complex() or x.dtype == torch.bool:
        raise UserError(f"input must hold real numbers, got {x.dtype}")
    x = x.detach().to("cpu", torch.float32)
    one = tuple(x.shape) == tuple(event_shape)
    if one:
        x = x[None]
    if x.ndim < 2 or tuple(x.shape[1:]) != tuple(event_shape):
        dims = ", ".join(map(str, event_shape))
        raise UserError(f"input must have shape (N, {dims}) or ({dims}), got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise UserError("input holds NaN or infinite values")
    return x, one


def condition_of(
    model: ScoreModel,
    label: Any,
    num: int,
    *,
    label_counts: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> Condition | None:
    """The condition ``num`` rows are evaluated or sampled under, for ``model``.

    An unconditional model: None (a ``label`` is a UserError). A class-conditional one: ``label``
    (one class for every row, or one per row) checked against the trained classes, or with
    ``label`` None and ``label_counts`` given, labels drawn from the training frequencies (so the
    samples follow the unconditional data distribution, p(x) = Σ_y p(y)·p(x ∣ y)); without counts
    a label is required.
    """
    if model.num_classes == 0:
        if label is not None:
            raise UserError(
                "a label needs a class-conditional model; this run's model is unconditional "
                "(train one with model.classes set to the number of classes)"
            )
        return None
    if label is not None:
        return Condition(labels_from(label, num, model.num_classes))
    if label_counts is None:
        raise UserError(f"this run's model is class-conditional: give a label (0 to {model.num_classes - 1})")
    counts = torch.as_tensor(list(label_counts), dtype=torch.float64)
    return Condition(torch.multinomial(counts, num, replacement=True, generator=generator))
