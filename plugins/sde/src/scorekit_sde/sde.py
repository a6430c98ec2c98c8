"""SDEs dx = f(x, t)dt + g(t)dw: VE, VP and sub-VP (Song et al. 2021), Ornstein–Uhlenbeck, Langevin.

VE, VP, sub-VP and OU have affine drifts, so x(t) given x(0) is Gaussian: the perturbation
kernel x_t = a(t)·x₀ + s(t)·ε of every scorekit schedule. They *are* NoiseSchedules (continuous
in t), so the ``dsm``/``ddpm`` losses train on them and the kernel samplers walk their levels.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch

from scorekit.interfaces import NoiseSchedule
from scorekit.tensors import append_dims, batch_sum
from scorekit_sde.config import OUConfig, VEConfig, VPConfig

__all__ = ["SDE", "VESDE", "VPSDE", "GaussianSDE", "LangevinSDE", "OrnsteinUhlenbeck", "SubVPSDE"]


class SDE:
    """dx = f(x, t)dt + g(t)dw with scalar diffusion g(t): what an SDE solver needs."""

    @abstractmethod
    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """f(x, t) for x of shape (B, *event) and t of shape (B,)."""

    @abstractmethod
    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """g(t), shape (B,)."""


class GaussianSDE(SDE, NoiseSchedule):
    """An SDE with affine drift on t ∈ [0, T]: x(t) ∣ x(0) ~ N(a(t)·x(0), s(t)²I), a prior at T.

    ``levels()`` are ``num_levels`` times from T down to ``eps``; training draws t uniformly from
    [eps, T] (``sample_t``).
    """

    continuous: ClassVar[bool] = True

    def __init__(self, T: float, eps: float, num_levels: int) -> None:
        self.T, self.eps, self.num_levels = T, eps, num_levels

    def levels(self) -> torch.Tensor:
        return torch.linspace(self.T, self.eps, self.num_levels, dtype=torch.float64).float()

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        u = torch.rand(batch_size, generator=generator, device=device)
        return self.eps + (self.T - self.eps) * u

    def grid(self, steps: int) -> torch.Tensor:
        """``steps + 1`` times from T down to eps (float64): a reverse-time solver's grid."""
        return torch.linspace(self.T, self.eps, steps + 1, dtype=torch.float64)

    def prior_std(self) -> float:
        """Standard deviation of the prior N(0, std²I) at t = T: √(a_T² + s_T²).

        x_T = a_T·x₀ + s_T·ε has exactly this variance per coordinate when x₀ has unit variance, which
        the run's standardization provides; for VP it is 1. (Song et al. take σ_max for VE, which
        misses the data's own variance by 1/σ_max² relative.)
        """
        a, s = (float(v) for v in self.kernel(torch.tensor([self.T], dtype=torch.float64)))
        return math.hypot(a, s)

    def prior_sample(
        self,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        return self.prior_std() * torch.randn(shape, generator=generator, device=device, dtype=dtype)

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x; 0, std²I) summed over the event, shape (B,)."""
        std = self.prior_std()
        d = x[0].numel()
        return -0.5 * batch_sum(x.square()) / std**2 - d * (math.log(std) + 0.5 * math.log(2 * math.pi))


class VESDE(GaussianSDE):
    """dx = √(dσ²/dt) dw with σ(t) = σ_min(σ_max/σ_min)^t: a = 1, s(t)² = σ(t)² − σ_min² (NCSN's limit)."""

    def __init__(self, config: VEConfig) -> None:
        super().__init__(config.T, config.eps, config.num_levels)
        self.sigma_min, self.sigma_max = config.sigma_min, config.sigma_max
        self._log_ratio = math.log(config.sigma_max / config.sigma_min)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma_min * torch.exp(t * self._log_ratio)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma(t) * math.sqrt(2 * self._log_ratio)

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones_like(t), (self.sigma(t).square() - self.sigma_min**2).clamp(min=0).sqrt()

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """s = √(σ(t)² − σ_min²) inverted: t = log(√(s² + σ_min²)/σ_min)/log(σ_max/σ_min)."""
        sigma = sigma.double()
        return 0.5 * torch.log1p(sigma.square() / self.sigma_min**2) / self._log_ratio


class VPSDE(GaussianSDE):
    """dx = −½β(t)x dt + √β(t) dw, β(t) = β_min + t(β_max − β_min): a = e^{−½∫β}, s² = 1 − a².

    The continuous limit of DDPM's chain with β_i = β(i/N)/N (Song et al. 2021, appendix B).
    """

    def __init__(self, config: VPConfig) -> None:
        super().__init__(config.T, config.eps, config.num_levels)
        self.beta_min, self.beta_max = config.beta_min, config.beta_max

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _log_mean(self, t: torch.Tensor) -> torch.Tensor:
        """log a(t) = −½∫₀ᵗβ = −¼t²(β_max − β_min) − ½t·β_min."""
        return -0.25 * t.square() * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * append_dims(self.beta(t).to(x.dtype), x) * x

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta(t).sqrt()

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_a = self._log_mean(t)
        return log_a.exp(), (-torch.expm1(2 * log_a)).sqrt()

    def _t_of_log_mean(self, log_a: torch.Tensor) -> torch.Tensor:
        """The root t ≥ 0 of ¼t²(β_max − β_min) + ½t·β_min = −log a."""
        slope, quad = 0.5 * self.beta_min, 0.25 * (self.beta_max - self.beta_min)
        if quad == 0:
            return -log_a / slope
        return 2 * -log_a / (slope + torch.sqrt(slope**2 + 4 * quad * -log_a))  # the stable root

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """s/a = √(e^{−2 log a} − 1) inverted: −log a = ½ log(1 + σ²), then the quadratic in t."""
        return self._t_of_log_mean(-0.5 * torch.log1p(sigma.double().square()))


class SubVPSDE(VPSDE):
    """The VP drift with g(t)² = β(t)(1 − e^{−2∫₀ᵗβ}): a as VP's, s = 1 − a² ≤ VP's √(1 − a²)."""

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return (self.beta(t) * -torch.expm1(4 * self._log_mean(t))).sqrt()

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_a = self._log_mean(t)
        return log_a.exp(), -torch.expm1(2 * log_a)

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """s/a = (1 − a²)/a inverted: a = (√(σ² + 4) − σ)/2, then VP's quadratic in t."""
        sigma = sigma.double()
        return self._t_of_log_mean(torch.log(2 / (torch.sqrt(sigma.square() + 4) + sigma)))


class OrnsteinUhlenbeck(GaussianSDE):
    """dx = −θx dt + σ dw: a = e^{−θt}, s² = σ²(1 − e^{−2θt})/(2θ); stationary N(0, σ²/(2θ)·I)."""

    def __init__(self, config: OUConfig) -> None:
        super().__init__(config.T, config.eps, config.num_levels)
        self.theta, self.sigma = config.theta, config.sigma

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -self.theta * x

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(t, self.sigma)

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.exp(-self.theta * t)
        return a, self.sigma * (-torch.expm1(-2 * self.theta * t) / (2 * self.theta)).sqrt()


class LangevinSDE(SDE):
    """dx = ½∇log p(x)dt + dw, whose stationary density is p (the lecture's Langevin dynamics).

    ``score(x)`` is ∇log p at x, of x's shape; Euler–Maruyama with dt = η is the Langevin step
    x ← x + (η/2)·∇log p(x) + √η·ε.
    """

    def __init__(self, score: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.score = score

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.score(x)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)
