"""Predictor and Corrector: the two halves of predictor–corrector sampling (Song et al. 2021), by name.

A reverse-time sampler walks a grid of times from noisy to clean. At each time a *corrector* moves x
toward the marginal p_t with the score alone (Langevin MCMC), then a *predictor* takes one step of
the reverse-time SDE to the next time. Both are registered components (kinds ``predictor`` and
``corrector``), so a plugin adds a scheme by name and ``reverse_sde`` composes it with the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Protocol

import torch

__all__ = ["Corrector", "Predictor", "ReverseTimeSDE"]


class ReverseTimeSDE(Protocol):
    """dx = f(x, t)dt + g(t)dw̄ integrated with decreasing t: the drift already holds −g²·score."""

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """f(x, t), x's shape, for x (B, *event) and t (B,)."""
        ...

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """g(t), shape (B,)."""
        ...


class Predictor(ABC):
    """One step of the reverse-time SDE from ``t`` to ``t_next`` (< t) with the Brownian increment ``dw``.

    ``dw`` has x's shape and variance |t_next − t| per entry. Each ``sde.drift`` call evaluates the
    model once; :attr:`evaluations` says how many per step (the engine's NFE).

    Example::

        x = predictor.step(reverse_sde, x, 0.5, 0.49, dw)
    """

    #: Model evaluations per step.
    evaluations: ClassVar[int] = 1

    @abstractmethod
    def step(self, sde: ReverseTimeSDE, x: torch.Tensor, t: float, t_next: float, dw: torch.Tensor) -> torch.Tensor:
        """x at ``t_next``, x's shape and dtype."""


class Corrector(ABC):
    """One MCMC step at fixed ``t`` toward p_t, from the score ``score(x, t)`` (x (B, *event), t (B,)).

    All randomness from ``generator``. :attr:`evaluations` counts the model evaluations per step.
    """

    #: Model evaluations per step.
    evaluations: ClassVar[int] = 1

    @abstractmethod
    def step(
        self,
        score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        t: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """x after one step, x's shape and dtype."""
