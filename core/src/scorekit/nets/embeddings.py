"""Embeddings of a scalar noise level for conditioning a network."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["FourierEmbedding"]


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
