"""Implicit score matching (Hyvärinen 2005)."""

from __future__ import annotations

from typing import ClassVar

import torch

from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel, TraceEstimator
from scorekit.tensors import batch_sum
from scorekit_ism.config import ISMConfig

__all__ = ["ImplicitScoreMatching"]


class ImplicitScoreMatching(Loss):
    """J(θ) = E_π[½‖s(x; θ)‖² + tr(∇ₓ s(x; θ))].

    By integration by parts ½E_π‖s − ∇log π‖² = J(θ) + const (Hyvärinen 2005; lecture 13), so
    minimizing J fits the score of the clean data without knowing it. The trace of the Jacobian
    — the Hessian of log p — costs d vector–Jacobian products with the exact estimator, which is
    what makes ISM expensive in high dimension. The model is evaluated at σ = 0 (t = 0).
    """

    needs_schedule: ClassVar[bool] = False

    def kernel_schedule(self, schedule: NoiseSchedule | None) -> None:
        return None  # the clean data's score at t = 0: ε, x₀ and v have no meaning there

    def __init__(self, config: ISMConfig) -> None:
        self.estimator: TraceEstimator = config.estimator.build()

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        t = torch.zeros(x0.shape[0], device=x0.device, dtype=x0.dtype)
        score, trace = self.estimator.trace(lambda x: model(x, t), x0, create_graph=True, generator=generator)
        return (0.5 * batch_sum(score.square()) + trace).mean()
