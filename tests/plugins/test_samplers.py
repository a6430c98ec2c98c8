"""Langevin and annealed Langevin samplers with analytic scores: stationary laws and mode weights."""

from __future__ import annotations

import math

import torch

from scorekit.data import GaussianMixture, eight_gaussians
from scorekit.interfaces import ScoreModel
from scorekit_annealed_langevin.config import AnnealedLangevinConfig
from scorekit_annealed_langevin.sampler import AnnealedLangevin
from scorekit_dsm.config import GeometricScheduleConfig
from scorekit_dsm.schedules import GeometricSchedule
from scorekit_langevin.config import LangevinConfig
from scorekit_langevin.sampler import LangevinSampler


class MixtureScore(ScoreModel):
    """The exact score of a Gaussian mixture convolved with N(0, t²I)."""

    def __init__(self, mixture: GaussianMixture) -> None:
        super().__init__()
        self.mixture = mixture

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.mixture.score(x, sigma=t)


def test_langevin_stationary_variance_matches_the_discrete_closed_form() -> None:
    """For p = N(0, c²), x' = (1 − η/2c²)x + √η ε has stationary variance c²/(1 − η/(4c²))."""
    c, eta, n = 1.5, 0.2, 20000
    model = MixtureScore(GaussianMixture(torch.zeros(1, 2), c))
    sampler = LangevinSampler(LangevinConfig(step_size=eta, num_steps=300, sigma=1e-8, init_std=5.0))
    x = sampler.sample(model, (n, 2), schedule=None, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = c**2 / (1 - eta / (4 * c**2))
    variance = float(x.var(dim=0).mean())
    # A sample variance of n normals has relative standard error √(2/n); two coordinates averaged.
    assert abs(variance - expected) < 5 * expected * math.sqrt(2 / (2 * n))


def test_annealed_langevin_recovers_mode_weights_and_widths() -> None:
    mixture = eight_gaussians()
    schedule = GeometricSchedule(GeometricScheduleConfig(sigma_max=8.0, sigma_min=0.05, num_levels=10))
    sampler = AnnealedLangevin(AnnealedLangevinConfig(steps_per_level=100, epsilon=5e-4, denoise=False))
    n = 8000
    x = sampler.sample(MixtureScore(mixture), (n, 2), schedule=schedule, generator=torch.Generator().manual_seed(0))
    weights = mixture.mode_weights(x)
    # ±5 standard errors of a multinomial proportion 1/8 at n = 8000 is ±0.018.
    assert float((weights - 1 / 8).abs().max()) < 5 * math.sqrt(1 / 8 * 7 / 8 / n)
    # Without the final denoising step the samples follow p_σL: per-mode std √(0.3² + 0.05²).
    spread = (x - mixture.means.float()[mixture.assign(x)]).std(dim=0)
    assert torch.allclose(spread, torch.full((2,), math.sqrt(0.09 + 0.0025)), rtol=0.05)


def test_samplers_are_reproducible_under_a_seed() -> None:
    model = MixtureScore(eight_gaussians())
    schedule = GeometricSchedule(GeometricScheduleConfig(num_levels=3))
    sampler = AnnealedLangevin(AnnealedLangevinConfig(steps_per_level=5))
    a, b, c = (
        sampler.sample(model, (50, 2), schedule=schedule, generator=torch.Generator().manual_seed(seed))
        for seed in (7, 7, 8)
    )
    assert torch.equal(a, b) and not torch.equal(a, c)
