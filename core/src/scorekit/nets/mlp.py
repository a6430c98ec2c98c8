"""A noise-conditional MLP score network for vector data."""

from __future__ import annotations

import math

import torch
from torch import nn

from scorekit.builtins.configs import NCSNMLPConfig
from scorekit.condition import Condition
from scorekit.interfaces import ScoreModel
from scorekit.nets.embeddings import FourierEmbedding, LabelEmbedding, class_labels
from scorekit.tensors import append_dims

__all__ = ["NCSNMLP"]

#: Activations by config name (each config class restricts the choice to what suits its net).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}


class NCSNMLP(ScoreModel):
    """s(x, σ) = f_θ(x, log σ)/σ for inputs of any event shape (flattened to a vector).

    f_θ is an MLP whose hidden layers each receive a learned projection of Fourier features of
    log σ. Dividing by σ makes the output scale match the true score's, ‖∇log p_σ‖ ∝ 1/σ (Song &
    Ermon 2020, "Improved techniques", technique 3), so one network covers σ over orders of
    magnitude. The network is continuous in σ: any σ > 0 is a valid input.
    """

    def __init__(self, config: NCSNMLPConfig) -> None:
        super().__init__()
        self.config = config
        self.num_classes = config.classes

    def bind(self, event_shape: tuple[int, ...]) -> None:
        super().bind(event_shape)
        config = self.config
        dim = math.prod(event_shape)
        activation = ACTIVATIONS[config.activation]
        self.embedding = FourierEmbedding(config.embedding_dim, scale=1.0)
        self.input = nn.Linear(dim, config.hidden)
        self.hidden = nn.ModuleList(nn.Linear(config.hidden, config.hidden) for _ in range(config.layers))
        # All layers' conditioning projections in one matmul: (B, E) → (B, layers·hidden).
        self.condition = nn.Linear(config.embedding_dim, config.hidden * (config.layers + 1))
        self.output = nn.Linear(config.hidden, dim)
        self.act = activation()
        if config.classes:  # a class's vector joins every layer's σ projection
            self.label_embedding = LabelEmbedding(config.classes, config.hidden * (config.layers + 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        sigma = t.to(x.dtype)
        projection = self.condition(self.embedding(sigma.log()))
        labels = class_labels(self, condition, x.shape[0])
        if labels is not None:
            projection = projection + self.label_embedding(labels)
        conditions = projection.chunk(len(self.hidden) + 1, dim=1)
        h = self.act(self.input(x.reshape(x.shape[0], -1)) + conditions[0])
        for layer, condition in zip(self.hidden, conditions[1:], strict=True):
            h = self.act(layer(h) + condition)
        return self.output(h).reshape(x.shape) / append_dims(sigma, x)
