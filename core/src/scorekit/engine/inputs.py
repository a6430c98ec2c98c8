"""What the Python API and the runner accept as points and labels: checked, converted, one-line errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from scorekit.condition import Condition, labels_from
from scorekit.errors import UserError
from scorekit.interfaces import ScoreModel

__all__ = ["as_points", "condition_of", "observed_of"]


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


def observed_of(observed: Any, mask: Any, event_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The known values and mask of an imputation, checked: float32 (N, *event) each, and whether
    ``observed`` was one point. ``mask`` is 0/1 (bool, integers or floats that are 0 or 1), of
    ``observed``'s shape or of one point's (then the same for every row). UserError in one line
    for a NaN in the values, a mask of another shape or with other values, or a mask that leaves
    nothing to impute or nothing known."""
    import numpy as np

    try:
        values, one = as_points(observed, event_shape)
    except UserError as exc:
        raise UserError(f"the observed values: {exc}") from None

    try:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    except (TypeError, ValueError):
        raise UserError(f"the mask must be an array of 0s and 1s, got {mask!r:.60}") from None
    if array.dtype.kind not in "biuf":
        raise UserError(f"the mask must hold 0s and 1s (bool, integers or floats), got dtype {array.dtype}")
    dims = ", ".join(map(str, event_shape))
    if tuple(array.shape) == tuple(event_shape):
        array = np.broadcast_to(array, values.shape)
    elif tuple(array.shape) != tuple(values.shape):
        raise UserError(
            f"the mask has shape {tuple(array.shape)}; it must have the observed values' shape "
            f"{tuple(values.shape)[1:] if one else tuple(values.shape)} or one point's ({dims})"
        )
    if array.dtype.kind == "f" and not np.isin(array, (0.0, 1.0)).all():
        raise UserError("the mask must hold only 0 (to impute) and 1 (known); it holds other values")
    if array.dtype.kind in "iu" and not np.isin(array, (0, 1)).all():
        raise UserError("the mask must hold only 0 (to impute) and 1 (known); it holds other values")
    known = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if not bool(known.any()):
        raise UserError("the mask marks nothing as known: that is plain sampling (scorekit sample)")
    if bool(known.all()):
        raise UserError("the mask marks every value as known: there is nothing to impute")
    return values, known, one
