"""Annealed Langevin dynamics over a σ schedule."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel
from scorekit_annealed_langevin.config import AnnealedLangevinConfig

__all__ = ["AnnealedLangevin"]


class AnnealedLangevin(Sampler):
    """Song & Ermon 2019, Algorithm 1: for σ₁ > … > σ_L, T Langevin steps at each level,

        α_l = ε·σ_l²/σ_L²,    x ← x + (α_l/2)·s_θ(x, σ_l) + √α_l·z,    z ~ N(0, I),

    each level starting from the last state of the previous one. With ``denoise`` the result is
    x + σ_L²·s_θ(x, σ_L), Tweedie's estimate of E[x₀ ∣ x] that removes the residual σ_L noise.
    Needs a σ-conditioned schedule (t = σ).
    """

    needs_schedule: ClassVar[bool] = True

    def __init__(self, config: AnnealedLangevinConfig) -> None:
        self.config = config

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        if schedule is not None and not schedule.sigma_conditioned:
            raise ConfigError(
                f"annealed_langevin needs a σ schedule (such as 'geometric'), "
                f"not {type(schedule).__name__} @ $.schedule"
            )

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
        self.check(schedule)
        assert schedule is not None
        config = self.config
        sigmas = schedule.levels().tolist()
        if config.init == "normal":
            x = sigmas[0] * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        else:
            x = 2 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1
        t = torch.empty(shape[0], device=device, dtype=dtype)
        for sigma in sigmas:
            t.fill_(sigma)
            alpha = config.epsilon * (sigma / sigmas[-1]) ** 2
            noise_scale = math.sqrt(alpha)
            for _ in range(config.steps_per_level):
                noise = torch.randn(shape, generator=generator, device=device, dtype=dtype)
                x.add_(model(x, t), alpha=0.5 * alpha).add_(noise, alpha=noise_scale)
        if config.denoise:
            x = x + sigmas[-1] ** 2 * model(x, t)
        return x
