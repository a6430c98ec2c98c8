"""Discrete variance-preserving schedules: β_t, α_t = 1 − β_t, ᾱ_t = Π α_s and the forward chain."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.interfaces import NoiseSchedule
from scorekit_ddpm.config import BetasConfig, CosineScheduleConfig, LinearScheduleConfig

__all__ = ["BetaSchedule", "CosineSchedule", "ExplicitBetas", "LinearSchedule"]


class BetaSchedule(NoiseSchedule):
    """The DDPM forward chain q(x_t ∣ x_{t−1}) = N(√(1−β_t)·x_{t−1}, β_t·I), t = 0 … T−1.

    Levels are the step indices (t = 0 is the first noising step, Ho et al.'s t = 1); the model is
    conditioned on the index. In closed form q(x_t ∣ x₀) = N(√ᾱ_t·x₀, (1−ᾱ_t)·I), so the kernel is
    a = √ᾱ_t, s = √(1−ᾱ_t). Quantities are computed in float64 and kept as float64 tensors
    (``betas``, ``alphas``, ``alpha_bars``, ``posterior_variance``, ``posterior_mean_coef_x0``,
    ``posterior_mean_coef_xt``); ``kernel`` serves them in float64 for float64 ``t`` and in float32
    otherwise, on ``t``'s device.
    """

    continuous: ClassVar[bool] = False

    def __init__(self, betas: torch.Tensor) -> None:
        betas = betas.to(torch.float64)
        if betas.ndim != 1 or len(betas) < 2 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must be a 1-D tensor of at least 2 values in (0, 1)")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)
        previous = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])
        #: β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t), the variance of q(x_{t−1} ∣ x_t, x₀); 0 at t = 0.
        self.posterior_variance = betas * (1.0 - previous) / (1.0 - self.alpha_bars)
        #: μ̃_t(x_t, x₀) = coef_x0·x₀ + coef_xt·x_t (Ho et al. 2020, eq. 7).
        self.posterior_mean_coef_x0 = previous.sqrt() * betas / (1.0 - self.alpha_bars)
        self.posterior_mean_coef_xt = self.alphas.sqrt() * (1.0 - previous) / (1.0 - self.alpha_bars)
        self._kernel_cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def num_steps(self) -> int:
        """T."""
        return len(self.betas)

    def levels(self) -> torch.Tensor:
        return torch.arange(self.num_steps - 1, -1, -1, dtype=torch.float32)

    def _table(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (device, dtype)
        if key not in self._kernel_cache:
            a, s = self.alpha_bars.sqrt(), (1.0 - self.alpha_bars).sqrt()
            self._kernel_cache[key] = (a.to(device, dtype), s.to(device, dtype))
        return self._kernel_cache[key]

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, s = self._table(t.device, torch.float64 if t.dtype == torch.float64 else torch.float32)
        index = t.long()
        return a[index], s[index]

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        return torch.randint(self.num_steps, (batch_size,), generator=generator, device=device).float()

    def step(
        self,
        x_prev: torch.Tensor,
        t: int,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One forward step x_t = √(1−β_t)·x_{t−1} + √β_t·ε from x_{t−1} (x₀ for t = 0)."""
        if noise is None:
            noise = torch.randn(x_prev.shape, generator=generator, device=x_prev.device, dtype=x_prev.dtype)
        beta = float(self.betas[t])
        return math.sqrt(1.0 - beta) * x_prev + math.sqrt(beta) * noise

    def chain(self, x0: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The whole forward chain from x₀, step by step: (T, *x0.shape) holding x_0 … x_{T−1} after each step."""
        states, x = [], x0
        for t in range(self.num_steps):
            x = self.step(x, t, generator=generator)
            states.append(x)
        return torch.stack(states)


class LinearSchedule(BetaSchedule):
    """β_t evenly spaced from beta_start to beta_end (Ho et al. 2020: 10⁻⁴ to 0.02, T = 1000)."""

    def __init__(self, config: LinearScheduleConfig) -> None:
        super().__init__(torch.linspace(config.beta_start, config.beta_end, config.num_steps, dtype=torch.float64))


def cosine_betas(num_steps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """β_t = min(1 − ᾱ(t+1)/ᾱ(t), max_beta), ᾱ(u) = cos²(π/2·(u/T + offset)/(1 + offset)) (Nichol & Dhariwal 2021)."""
    u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((u + offset) / (1 + offset) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


class CosineSchedule(BetaSchedule):
    """ᾱ follows a squared cosine in t, so it falls slowly at both ends (Nichol & Dhariwal 2021, eq. 17)."""

    def __init__(self, config: CosineScheduleConfig) -> None:
        super().__init__(cosine_betas(config.num_steps, config.offset, config.max_beta))


class ExplicitBetas(BetaSchedule):
    """β_t as the user gave them."""

    def __init__(self, config: BetasConfig) -> None:
        super().__init__(torch.tensor(config.betas, dtype=torch.float64))
