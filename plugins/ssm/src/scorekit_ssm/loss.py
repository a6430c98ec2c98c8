"""Sliced score matching (Song, Garg, Shi & Ermon 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch

from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel, TraceEstimator
from scorekit.tensors import batch_sum
from scorekit_ssm.config import SSMConfig

__all__ = ["SlicedScoreMatching", "SlicedScoreMatchingVR"]


class SlicedScoreMatching(Loss):
    """J(θ) = E_π E_v[vᵀ(∇ₓ s)v + ½(vᵀs)²], v with E[v] = 0, Cov(v) = I (Song et al. 2019, eq. 7).

    Implicit score matching with tr(∇ₓs) replaced by Hutchinson's estimate vᵀ(∇ₓs)v and ‖s‖² by
    its projection (vᵀs)²: one vector–Jacobian product per projection, whatever the dimension.
    ``projections`` directions per sample average the estimate. The model is evaluated at σ = 0.
    """

    needs_schedule: ClassVar[bool] = False

    def kernel_schedule(self, schedule: NoiseSchedule | None) -> None:
        return None  # the clean data's score at t = 0: ε, x₀ and v have no meaning there

    #: SSM-VR replaces (vᵀs)² by its expectation ‖s‖² over v (Song et al. 2019, eq. 8).
    variance_reduced: ClassVar[bool] = False

    def __init__(self, config: SSMConfig) -> None:
        self.projections = config.projections
        self.estimator: TraceEstimator = config.estimator.build()

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        self.estimator.sample_probes(torch.zeros(1, 1), 1)  # a ConfigError for an estimator without probes

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        t = torch.zeros(x0.shape[0], device=x0.device, dtype=x0.dtype)
        with torch.enable_grad():
            x = x0.detach().requires_grad_(True)
            score = model(x, t)
            probes = self.estimator.sample_probes(x, self.projections, generator=generator)
            total = torch.zeros(x0.shape[0], device=x0.device, dtype=score.dtype)
            for v in probes:
                projected = batch_sum(score * v)  # vᵀs, shape (B,)
                (vjp,) = torch.autograd.grad(projected.sum(), x, create_graph=True)  # vᵀ∇ₓs
                total = total + batch_sum(vjp * v)  # vᵀ(∇ₓs)v
                if not self.variance_reduced:
                    total = total + 0.5 * projected.square()
            total = total / self.projections
            if self.variance_reduced:
                total = total + 0.5 * batch_sum(score.square())
        return total.mean()


class SlicedScoreMatchingVR(SlicedScoreMatching):
    """SSM-VR: E_π E_v[vᵀ(∇ₓ s)v + ½‖s‖²] — the (vᵀs)² term in closed form (Song et al. 2019, eq. 8)."""

    variance_reduced: ClassVar[bool] = True
