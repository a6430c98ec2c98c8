"""Annealed Langevin dynamics over a σ schedule."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.errors import UserError
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel, Start, select_levels
from scorekit_annealed_langevin.config import AnnealedLangevinConfig

__all__ = ["AnnealedLangevin"]


def _levels_from(levels: torch.Tensor, t: float) -> torch.Tensor:
    """The levels at or below ``t`` (noisiest first); a UserError when none is."""
    kept = levels[levels <= t * (1 + 1e-9)]
    if not (math.isfinite(t) and len(kept)):
        raise UserError(
            f"a start at t = {t:.6g} lies below every level of this sampler (the lowest is {float(levels[-1]):.6g})"
        )
    return kept


class AnnealedLangevin(Sampler):
    """Song & Ermon 2019, Algorithm 1: for σ₁ > … > σ_L, T Langevin steps at each level,

        α_l = ε·σ_l²/σ_L²,    x ← x + (α_l/2)·s_θ(x, σ_l) + √α_l·z,    z ~ N(0, I),

    each level starting from the last state of the previous one. With ``denoise`` the result is
    x + σ_L²·s_θ(x, σ_L), Tweedie's estimate of E[x₀ ∣ x] that removes the residual σ_L noise.

    On any kernel x_t = a·x₀ + s·ε (a diffusion schedule) the levels' marginals p_t are annealed the
    same way with σ_l = s(t_l); the chain starts from N(0, (a₁² + s₁²)I) and Tweedie's estimate is
    (x + s_L²·s_θ)/a_L. An ε-network is seen as the score −ε/s by the engine.
    """

    needs_schedule: ClassVar[bool] = True
    #: ``start.x`` replaces the initial draw; with ``start.t`` the levels at or below t are walked.
    accepts_start: ClassVar[bool] = True

    def __init__(self, config: AnnealedLangevinConfig) -> None:
        self.config = config

    # No prior_std: the Langevin steps at σ₁ mix the start away, so a start that misses the data's
    # scale costs nothing (measured: a two-mode mixture shifted by 3 gives the same mode weights as
    # unshifted, where the reverse SDE's are off by 0.14).

    def _init_std(self, schedule: NoiseSchedule) -> float:
        if self.config.init_std is not None:
            return self.config.init_std
        a, s = (float(v) for v in schedule.kernel(schedule.levels()[:1].double()))
        # σ schedules (a = 1) start from N(0, σ₁²I), as Song & Ermon do.
        return s if schedule.sigma_conditioned else math.hypot(a, s)

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        if schedule is None:
            return None
        levels = len(select_levels(schedule.levels(), self.config.levels))
        return levels * self.config.steps_per_level + int(self.config.denoise)

    def sample(
        self,
        model: ScoreModel,
        shape: tuple[int, ...],
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        start: Start | None = None,
    ) -> torch.Tensor:
        self.check(schedule)
        assert schedule is not None
        config = self.config
        levels = select_levels(schedule.levels(), config.levels)
        if start is not None and start.t is not None:
            levels = _levels_from(levels, start.t)
        a, s = (v.tolist() for v in schedule.kernel(levels.double()))
        if start is not None:
            x = start.x.to(device=device, dtype=dtype, copy=True)
        elif config.init == "normal":
            scale = self._init_std(schedule)
            x = scale * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        else:
            scale = 1.0 if config.init_std is None else config.init_std
            x = scale * (2 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1)
        t = torch.empty(shape[0], device=device, dtype=dtype)
        for level, std in zip(levels.tolist(), s, strict=True):
            t.fill_(level)
            alpha = config.epsilon * (std / s[-1]) ** 2
            noise_scale = math.sqrt(alpha)
            for _ in range(config.steps_per_level):
                noise = torch.randn(shape, generator=generator, device=device, dtype=dtype)
                x.add_(model(x, t), alpha=0.5 * alpha).add_(noise, alpha=noise_scale)
        if config.denoise:
            x = x + s[-1] ** 2 * model(x, t)
            if a[-1] != 1.0:
                x = x / a[-1]
        return x
