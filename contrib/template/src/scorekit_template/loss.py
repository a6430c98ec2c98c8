"""Single-σ denoising score matching, written against scorekit's public API only."""

from __future__ import annotations

from typing import ClassVar

import torch

from scorekit import Loss, NoiseSchedule, ScoreModel, batch_sum
from scorekit_template.config import TemplateDSMConfig

__all__ = ["TemplateDSMLoss"]


class TemplateDSMLoss(Loss):
    """½·E_x E_ε ‖s_θ(x + σε, σ) + ε/σ‖², ε ~ N(0, I), at one σ (Vincent 2011).

    −ε/σ = −(x̃ − x)/σ² is the score of the kernel N(x̃; x, σ²I), so the minimizer is ∇log p_σ, the
    score of the data convolved with N(0, σ²I). Sums over event dimensions, averages over the batch.
    """

    #: The loss draws its own noise at its own σ, so a run needs no [schedule] section for it.
    needs_schedule: ClassVar[bool] = False
    #: What ``model`` outputs in __call__: the engine converts a network that predicts something
    #: else (ε, x₀, v) before the loss sees it, through the kernel ``kernel_schedule`` names.
    parametrization = "score"

    def kernel_schedule(self, schedule: NoiseSchedule | None) -> None:
        # t = σ here is this loss's own, not the run's schedule's: with no kernel to convert through,
        # the engine accepts only a model that predicts the score, and says so in one line otherwise.
        # (The dsm plugin's DSMLoss returns a one-level schedule instead, and takes any prediction.)
        return None

    def __init__(self, config: TemplateDSMConfig) -> None:
        self.sigma = config.sigma

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        t = torch.full((x0.shape[0],), self.sigma, device=x0.device, dtype=x0.dtype)
        residual = model(x0 + self.sigma * noise, t) + noise / self.sigma
        return 0.5 * batch_sum(residual.square()).mean()
