"""An unconditional MLP score network: the score of the clean data."""

from __future__ import annotations

import math

import torch
from torch import nn

from scorekit.builtins.configs import ScoreMLPConfig
from scorekit.interfaces import ScoreModel
from scorekit.nets.mlp import ACTIVATIONS

__all__ = ["ScoreMLP"]


class ScoreMLP(ScoreModel):
    """s(x; θ) ≈ ∇ₓ log p(x) by an MLP on the flattened event; the noise level ``t`` is ignored.

    The model of the σ = 0 objectives: implicit score matching E[½‖s‖² + tr ∇ₓs] (Hyvärinen
    2005) and sliced score matching (Song et al. 2019), which need no noise schedule.
    """

    def __init__(self, config: ScoreMLPConfig) -> None:
        super().__init__()
        self.config = config

    def bind(self, event_shape: tuple[int, ...]) -> None:
        super().bind(event_shape)
        dim, width = math.prod(event_shape), self.config.hidden
        activation = ACTIVATIONS[self.config.activation]
        layers: list[nn.Module] = [nn.Linear(dim, width), activation()]
        for _ in range(self.config.layers - 1):
            layers += [nn.Linear(width, width), activation()]
        self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], -1)).reshape(x.shape)
