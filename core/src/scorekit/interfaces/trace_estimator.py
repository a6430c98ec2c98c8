"""TraceEstimator: tr(∂f/∂x) for a batch, exactly or by Hutchinson's estimator."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from scorekit.errors import ConfigError

__all__ = ["TraceEstimator"]


class TraceEstimator(ABC):
    """Estimates the per-sample trace of the Jacobian of f: x ↦ f(x), both of shape (B, *event).

    The exact trace costs one vector–Jacobian product per dimension; Hutchinson's estimator
    tr(A) = E[εᵀAε] with E[ε] = 0, Cov(ε) = I costs one per probe (Hutchinson 1989). Used by implicit
    and sliced score matching (tr ∇ₓs) and by continuous normalizing flows (d log p/dt = −tr ∂f/∂z).

    Returns ``(f(x), trace)`` with ``trace`` of shape (B,); ``create_graph=True`` keeps the graph so
    the trace can be differentiated (training).

    Example::

        fx, tr = estimator.trace(model_fn, x, create_graph=True, generator=g)
    """

    def sample_probes(self, x: torch.Tensor, num: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` probe vectors per sample, shape (num, B, *event), with E[ε] = 0 and Cov(ε) = I.

        Randomized estimators draw them from their distribution; sliced score matching uses them
        as its projections v. Deterministic estimators have none and raise ConfigError.
        """
        raise ConfigError(
            f"{type(self).__name__} draws no random probes; use a randomized estimator such as 'hutchinson'"
        )

    def reset(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Start a new trajectory: an estimator that holds its probes fixed along an ODE solve draws new ones."""

    @abstractmethod
    def trace(
        self,
        func: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        *,
        create_graph: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(x), tr ∂f/∂x per sample)."""
