"""The dynamics network of a continuous normalizing flow."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch
from torch import nn

from scorekit.interfaces import ScoreModel
from scorekit_cnf.config import CNFMLPConfig

__all__ = ["CNFMLP"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"softplus": nn.Softplus, "tanh": nn.Tanh, "silu": nn.SiLU, "gelu": nn.GELU}


class CNFMLP(ScoreModel):
    """f(z, t; θ), the velocity of a CNF: an MLP on the flattened event with t appended to every layer's input.

    Appending t to each layer (FFJORD's "concat" layers) lets the field change along the flow at
    the cost of one extra input per layer. It is a :class:`ScoreModel` for the engine's sake (binding,
    EMA, checkpoints), but its output is a velocity, not a score: ``parametrization = "velocity"``.
    """

    parametrization: ClassVar[str] = "velocity"

    def __init__(self, config: CNFMLPConfig) -> None:
        super().__init__()
        self.config = config

    def bind(self, event_shape: tuple[int, ...]) -> None:
        super().bind(event_shape)
        dim, width = math.prod(event_shape), self.config.hidden
        sizes = [dim] + [width] * self.config.layers + [dim]
        self.linears = nn.ModuleList(nn.Linear(n_in + 1, n_out) for n_in, n_out in itertools.pairwise(sizes))
        self.activation = _ACTIVATIONS[self.config.activation]()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        time = t.reshape(-1, 1).to(x.dtype).expand(x.shape[0], 1)
        h = x.reshape(x.shape[0], -1)
        for i, linear in enumerate(self.linears):
            h = linear(torch.cat([h, time], dim=1))
            if i < len(self.linears) - 1:
                h = self.activation(h)
        return h.reshape(x.shape)
