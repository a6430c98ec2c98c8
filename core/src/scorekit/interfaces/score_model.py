"""ScoreModel: a network s(x, t; θ) ≈ ∇ₓ log p_t(x)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

__all__ = ["ScoreModel"]


class ScoreModel(nn.Module, ABC):
    """A noise-conditional score network s(x, t; θ) ≈ ∇ₓ log p_t(x).

    ``t`` is the noise level in the coordinates of the run's NoiseSchedule: σ for NCSN schedules,
    diffusion time for DDPM/SDE schedules. It has shape (B,); ``x`` has shape (B, *event) for any
    event rank — (B, d) points or (B, C, H, W) images — and the output has the shape of ``x``.

    ``event_shape`` is fixed when the model is built (the engine calls :meth:`bind` with the data's
    event shape before the first forward pass).

    Example::

        model = registry.get("model", "ncsn_mlp").build(config)
        model.bind((2,))
        score = model(x, sigma.expand(x.shape[0]))
    """

    #: What the raw network output means; "score" unless a subclass predicts ε (see DDPM).
    parametrization: ClassVar[str] = "score"

    event_shape: tuple[int, ...] = ()

    #: Classes of a class-conditional model; 0 for an unconditional one. A conditional model's
    #: ``forward`` takes ``condition=`` (a :class:`scorekit.condition.Condition` whose labels are in
    #: [0, num_classes) or :data:`~scorekit.condition.NO_LABEL`, the null label of classifier-free
    #: guidance); the engine passes it through a :class:`~scorekit.condition.Conditioned` view, so
    #: losses and samplers never see it. An unconditional model is never passed one.
    num_classes: int = 0

    def bind(self, event_shape: tuple[int, ...]) -> None:
        """Build the layers for data of ``event_shape``; called once, before training or loading."""
        self.event_shape = tuple(event_shape)

    @abstractmethod
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The score at ``x`` (B, *event) for noise levels ``t`` (B,); returns (B, *event).

        A class-conditional model (:attr:`num_classes` > 0) has the signature
        ``forward(x, t, condition=None)``, ``condition.labels`` of shape (B,).
        """
