"""Consistent annealed sampling over a geometric σ schedule."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch

from scorekit import ConfigError, NoiseSchedule, Sampler, ScoreModel
from scorekit_contrib_cas.config import ConsistentAnnealedConfig

__all__ = ["ConsistentAnnealedSampler"]

# Levels come as float32, so consecutive ratios of an exactly geometric schedule differ by ~1e-7.
_RATIO_TOLERANCE = 1e-4


class ConsistentAnnealedSampler(Sampler):
    """Consistent Annealed Sampling (Jolicoeur-Martineau, Piché-Taillefer, Combes & Mitliagkas 2021,
    "Adversarial score matching and improved sampling for image generation", Algorithm 2).

    For levels σ₁ > … > σ_L in geometric progression, γ = σ_i/σ_{i+1}, and η = ε/σ_L²::

        x ~ N(0, σ₁²I);   for i = 1 … L−1:   x ← x + η·σ_i²·s(x, σ_i) + β·σ_{i+1}·z,   z ~ N(0, I),

        β = √(1 − γ²(1 − η)²).

    Why this β: write the state at level i as x = x₀ + σ_i·ξ with ξ ~ N(0, I) and take the score
    at its denoising target s = −ξ/σ_i (Vincent 2011). The step leaves x₀ + (1 − η)·σ_i·ξ, and the
    fresh noise brings the noise variance to (1 − η)²σ_i² + β²σ_{i+1}² = σ_{i+1}²: the noise level
    follows the schedule exactly, one network evaluation per level, where annealed Langevin's lags
    behind it (the paper's §3). β is real only when |1 − η| ≤ 1/γ, that is

        σ_L²(1 − 1/γ) ≤ ε ≤ σ_L²(1 + 1/γ),

    checked here since it needs the schedule. At the lower end β = 0 and the step
    x + σ_i(σ_i − σ_{i+1})·s is Euler's step of the probability flow ODE dx/dσ = −σ·s (Song et al.
    2021). With η = (1 + λ)(1 − 1/γ), as γ → 1 the steps become the reverse-time family
    dx = (1 + λ)·σ·s·|dσ| + √(2λσ|dσ|)·dw, which keeps the marginals p_σ for every λ ≥ 0 (λ = 1: the
    reverse SDE).

    A trained network approximates the *marginal* score, and x + σ²·s(x, σ) = E[x₀ ∣ x] (Tweedie)
    rather than x₀, so the bookkeeping above is exact only for a point mass. For data N(0, c²I),
    s(x, σ) = −x/(c² + σ²), one step maps the variance v to a_i²·v + β²σ_{i+1}² with
    a_i = 1 − ησ_i²/(c² + σ_i²), which from v = c² + σ_i² falls short of c² + σ_{i+1}² by
    η²c²σ_i²/(c² + σ_i²). Fine levels (γ near 1) with η a small multiple of 1 − 1/γ keep it small,
    as the limit above says.

    The paper's loop runs to i = L with σ_{L+1} = 0, its last iteration the partial step
    x + ε·s(x, σ_L). Here the L − 1 moves end at noise level σ_L, so without ``denoise`` the result
    approximates p_σL; ``denoise`` finishes with the full Tweedie step x + σ_L²·s(x, σ_L).
    Needs a σ-conditioned schedule (t = σ) with geometric levels; anything else is a ConfigError.
    """

    needs_schedule: ClassVar[bool] = True

    def __init__(self, config: ConsistentAnnealedConfig) -> None:
        self.config = config

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        _step_parameters(_geometric_levels(schedule), self.config.epsilon)

    def prior_std(self, schedule: NoiseSchedule | None) -> float | None:
        return _geometric_levels(schedule)[0]

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        if schedule is None:
            return None
        return len(schedule.levels()) - 1 + int(self.config.denoise)

    def sample(
        self,
        model: ScoreModel,
        shape: tuple[int, ...],
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        sigmas = _geometric_levels(schedule)
        eta, beta = _step_parameters(sigmas, self.config.epsilon)
        sigma_min = sigmas[-1]

        x = sigmas[0] * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        t = torch.empty(shape[0], device=device, dtype=dtype)
        for sigma, sigma_next in itertools.pairwise(sigmas):
            t.fill_(sigma)
            noise = torch.randn(shape, generator=generator, device=device, dtype=dtype)
            x.add_(model(x, t), alpha=eta * sigma**2).add_(noise, alpha=beta * sigma_next)
        if self.config.denoise:
            t.fill_(sigma_min)
            x = x + sigma_min**2 * model(x, t)
        return x


def _step_parameters(sigmas: list[float], epsilon: float) -> tuple[float, float]:
    """(η, β) for ε on this schedule; a ConfigError unless σ_L²(1 − 1/γ) ≤ ε ≤ σ_L²(1 + 1/γ)."""
    sigma_min = sigmas[-1]
    gamma = (sigmas[0] / sigma_min) ** (1 / (len(sigmas) - 1))
    eta = epsilon / sigma_min**2
    if abs(1 - eta) * gamma > 1 + 1e-9:
        low, high = sigma_min**2 * (1 - 1 / gamma), sigma_min**2 * (1 + 1 / gamma)
        raise ConfigError(
            f"must lie in [{low:.6g}, {high:.6g}] = σ_L²(1 ∓ 1/γ) for this schedule "
            f"(σ_L = {sigma_min:.6g}, γ = {gamma:.6g}), got {epsilon!r} @ $.sampler.epsilon"
        )
    # An ε on the boundary may land a rounding error outside it; β is 0 there.
    return eta, math.sqrt(max(0.0, 1 - (gamma * (1 - eta)) ** 2))


def _geometric_levels(schedule: NoiseSchedule | None) -> list[float]:
    """The schedule's σ₁ > … > σ_L, if it conditions on σ and they are in geometric progression."""
    if schedule is None or not schedule.sigma_conditioned:
        raise ConfigError("consistent_annealed needs a σ schedule (such as 'geometric') in [schedule] @ $.schedule")
    sigmas = [float(s) for s in schedule.levels()]
    if len(sigmas) < 2:
        raise ConfigError(f"consistent_annealed needs at least 2 σ levels, got {len(sigmas)} @ $.schedule")
    gamma = (sigmas[0] / sigmas[-1]) ** (1 / (len(sigmas) - 1))
    ratios = [a / b for a, b in itertools.pairwise(sigmas)]
    if gamma <= 1 or any(abs(r / gamma - 1) > _RATIO_TOLERANCE for r in ratios):
        raise ConfigError(
            "consistent_annealed needs decreasing σ levels in geometric progression (σ_i/σ_{i+1} constant); "
            f"this schedule's ratios range from {min(ratios):.6g} to {max(ratios):.6g} @ $.schedule"
        )
    return sigmas
