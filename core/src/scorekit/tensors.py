"""The one tensor-broadcast helper: per-sample values against batches of any rank."""

from __future__ import annotations

import torch

__all__ = ["append_dims", "batch_sum"]


def append_dims(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View per-sample ``values`` of shape (B,) as (B, 1, …, 1) to broadcast against ``like`` (B, *event).

    Example::

        x_t = append_dims(a, x0) * x0 + append_dims(s, x0) * noise
    """
    if values.ndim != 1:
        raise ValueError(f"expected per-sample values of shape (B,), got {tuple(values.shape)}")
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1)))


def batch_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: (B, *event) → (B,)."""
    return x.reshape(x.shape[0], -1).sum(dim=1)
