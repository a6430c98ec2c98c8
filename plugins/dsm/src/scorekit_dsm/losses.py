"""Denoising score matching losses (Vincent 2011; Song & Ermon 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch

from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.tensors import batch_sum
from scorekit_dsm.config import DSMLossConfig, NCSNLossConfig

__all__ = ["DSMLoss", "NCSNLoss", "denoising_score_matching"]


def denoising_score_matching(
    model: ScoreModel,
    x0: torch.Tensor,
    t: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    weight_power: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E_t E_ε[ λ(s)·½‖s_θ(x_t, t) + ε/s‖² ] with x_t = a·x₀ + s·ε and λ(s) = s^weight_power.

    −ε/s = −(x_t − a·x₀)/s² is the score of the kernel q(x_t ∣ x₀), so the minimizer is the score
    of the perturbed data (Vincent 2011). With λ = s² the summand is ½‖s·s_θ + ε‖², whose
    magnitude no longer depends on s (Song & Ermon 2019, eq. 6). Sums over event dimensions,
    averages over the batch.

    ``model`` predicts ε (the losses' ``parametrization``; the engine converts a network that
    predicts the score, x₀ or v): with ε̂ = −s·s_θ the summand is ½‖ε − ε̂‖²·s^(λ−2), Ho et al.'s
    loss at λ = s².
    """
    x_t, noise = schedule.perturb(x0, t, generator=generator)
    residual = noise - model(x_t, t)
    per_sample = 0.5 * batch_sum(residual.square())
    if weight_power != 2.0:
        s = schedule.std(t).to(x0.dtype)
        per_sample = per_sample * (s ** (weight_power - 2.0))
    return per_sample.mean()


class _FixedSigma(NoiseSchedule):
    """One level, t = σ; lets single-σ DSM share the multi-level code."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def levels(self) -> torch.Tensor:
        return torch.tensor([self.sigma])

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones_like(t), t

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        return torch.full((batch_size,), self.sigma, device=device)


class DSMLoss(Loss):
    """½E‖s_θ(x̃, σ) + (x̃ − x)/σ²‖², x̃ = x + σε, at the configured σ (Vincent 2011).

    The minimizer is ∇log p_σ, the score of the data convolved with N(0, σ²I).
    """

    needs_schedule: ClassVar[bool] = False
    parametrization = "epsilon"

    def __init__(self, config: DSMLossConfig) -> None:
        self.schedule = _FixedSigma(config.sigma)

    def kernel_schedule(self, schedule: NoiseSchedule | None) -> NoiseSchedule:
        return self.schedule  # the model is evaluated at t = σ of this loss, whatever the run's schedule

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        t = self.schedule.sample_t(x0.shape[0], device=x0.device)
        return denoising_score_matching(model, x0, t, self.schedule, weight_power=0.0, generator=generator)


class NCSNLoss(Loss):
    """Σ_l λ(σ_l)·½E‖s_θ(x̃, σ_l) + (x̃ − x)/σ_l²‖² with λ(σ) = σ² (Song & Ermon 2019, eq. 5–6).

    Each sample gets one σ drawn by the schedule (uniform over levels by default), an unbiased
    estimate of the average over levels.
    """

    parametrization = "epsilon"

    def __init__(self, config: NCSNLossConfig) -> None:
        self.weight_power = config.weight_power

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if schedule is None:
            raise ValueError("NCSNLoss needs a NoiseSchedule")
        t = schedule.sample_t(x0.shape[0], generator=generator, device=x0.device)
        return denoising_score_matching(model, x0, t, schedule, weight_power=self.weight_power, generator=generator)
