"""Embeddings of a scalar noise level for conditioning a network."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["FourierEmbedding", "LabelEmbedding", "SinusoidalEmbedding", "class_labels", "distinct_times"]


class FourierEmbedding(nn.Module):
    """Random Fourier features [sin 2πωv, cos 2πωv] of a scalar v, ω ~ N(0, scale²) fixed at init.

    Tancik et al. 2020; used on log σ by Song et al. 2021. Input (B,), output (B, dim).
    """

    frequencies: torch.Tensor

    def __init__(self, dim: int, scale: float = 1.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"embedding dim must be even, got {dim}")
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("frequencies", torch.randn(dim // 2, generator=generator) * scale)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        angles = (2 * math.pi) * v[:, None] * self.frequencies[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class SinusoidalEmbedding(nn.Module):
    """Transformer position features of a scalar time: [sin(t·ω_k), cos(t·ω_k)], ω_k = 10000^(−k/(half−1)).

    Vaswani et al. 2017, as used on the diffusion step by Ho et al. 2020. ``scale`` multiplies t
    first, so that times in [0, 1] (SDEs) reach the same frequencies as steps in [0, 1000).
    Input (B,), output (B, dim).
    """

    frequencies: torch.Tensor

    def __init__(self, dim: int, scale: float = 1.0) -> None:
        super().__init__()
        if dim % 2 or dim < 4:
            raise ValueError(f"embedding dim must be even and at least 4, got {dim}")
        half = dim // 2
        exponents = torch.arange(half, dtype=torch.float64) / (half - 1)
        self.register_buffer("frequencies", (scale * 10000.0**-exponents).float())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.to(self.frequencies.dtype)[:, None] * self.frequencies[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)


def distinct_times(t: torch.Tensor) -> torch.Tensor:
    """``t[:1]`` when ``t`` is one time broadcast over the batch (a stride-0 view), else ``t``.

    Samplers pass a level as ``level.expand(B)``; a network whose conditioning depends on t alone
    computes it once on the result and lets broadcasting spread it over the batch. Deciding from
    the stride needs no look at the values, so no device synchronisation.
    """
    if t.ndim == 1 and t.shape[0] > 1 and t.stride(0) == 0:
        return t[:1]
    return t


class LabelEmbedding(nn.Module):
    """A learned vector per class, and one more for "no label" (NO_LABEL = −1: classifier-free guidance's
    null condition). Input labels (B,) int64 in [−1, num_classes); output (B, dim)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        # −1 → the last row; checked rather than wrapped, so a bad label cannot read another class's row
        # (on CPU: on a GPU the check would cost a host sync per step, and the engine checks labels on entry).
        if (
            labels.device.type == "cpu"
            and labels.numel()
            and bool(((labels < -1) | (labels >= self.num_classes)).any())
        ):
            raise ValueError(f"labels must lie in [-1, {self.num_classes}), got {labels.min()}..{labels.max()}")
        return self.table(torch.where(labels < 0, self.num_classes, labels))


def class_labels(model: nn.Module, condition: Any, batch: int) -> torch.Tensor | None:
    """The labels (B,) a built-in net embeds: None for an unconditional net; a ValueError when a
    conditional one is called without labels, or with a number of them other than the batch's."""
    if not getattr(model, "num_classes", 0):
        return None
    labels = getattr(condition, "labels", None)
    if labels is None:
        raise ValueError(f"{type(model).__name__} is class-conditional: call it with condition=Condition(labels)")
    if labels.shape != (batch,):
        raise ValueError(f"{type(model).__name__}: {tuple(labels.shape)} labels for a batch of {batch}")
    return labels
