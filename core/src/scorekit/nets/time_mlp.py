"""A time-conditioned MLP for vector data (DDPM, SDEs)."""

from __future__ import annotations

import math

import torch
from torch import nn

from scorekit.builtins.configs import TimeMLPConfig
from scorekit.condition import Condition
from scorekit.interfaces import ScoreModel
from scorekit.nets.embeddings import LabelEmbedding, SinusoidalEmbedding, class_labels, distinct_times
from scorekit.nets.mlp import ACTIVATIONS

__all__ = ["TimeMLP"]


class TimeMLP(ScoreModel):
    """f_θ(x, t): an MLP on the flattened event whose hidden layers each add a projection of emb(t).

    emb(t) is the sinusoidal embedding of t·time_scale followed by a SiLU layer (Ho et al. 2020).
    The output means what ``prediction`` says: ε (default), the score, x₀ or v
    (:mod:`scorekit.parametrization`), so the same network serves DDPM's ε-loss and a score loss.
    """

    def __init__(self, config: TimeMLPConfig) -> None:
        super().__init__()
        self.config = config
        self.parametrization = config.prediction  # type: ignore[misc]
        self.num_classes = config.classes

    def bind(self, event_shape: tuple[int, ...]) -> None:
        super().bind(event_shape)
        config = self.config
        dim = math.prod(event_shape)
        self.embedding = nn.Sequential(
            SinusoidalEmbedding(config.embedding_dim, config.time_scale),
            nn.Linear(config.embedding_dim, config.hidden),
            nn.SiLU(),
        )
        self.input = nn.Linear(dim, config.hidden)
        self.hidden = nn.ModuleList(nn.Linear(config.hidden, config.hidden) for _ in range(config.layers))
        # All layers' conditioning projections in one matmul: (B, hidden) → (B, (layers + 1)·hidden).
        self.condition = nn.Linear(config.hidden, config.hidden * (config.layers + 1))
        self.output = nn.Linear(config.hidden, dim)
        self.act = ACTIVATIONS[config.activation]()
        if config.classes:  # a class's vector is added to the time embedding (Ho & Salimans 2022)
            self.label_embedding = LabelEmbedding(config.classes, config.hidden)

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        # (1, ·) for a broadcast time: the conditioning is computed once and broadcast in the sums.
        embedding = self.embedding(distinct_times(t))
        labels = class_labels(self, condition, x.shape[0])
        if labels is not None:
            embedding = embedding + self.label_embedding(labels)
        conditions = self.condition(embedding).chunk(len(self.hidden) + 1, dim=1)
        h = self.act(self.input(x.reshape(x.shape[0], -1)) + conditions[0])
        for layer, condition in zip(self.hidden, conditions[1:], strict=True):
            h = self.act(layer(h) + condition)
        return self.output(h).reshape(x.shape)
