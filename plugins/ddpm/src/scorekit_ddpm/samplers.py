"""Ancestral (DDPM) and DDIM sampling, for any Gaussian kernel x_t = a(t)·x₀ + s(t)·ε.

Both walk down a sequence of the schedule's levels, noisiest first. Between consecutive levels
t (noisier) and p the kernel implies the Markov step

    x_t = α·x_p + √β·z,    α = a_t/a_p,    β = s_t² − α²·s_p²,

whose posterior q(x_p ∣ x_t, x₀) is Gaussian with mean coef_x0·x₀ + coef_xt·x_t,
coef_x0 = a_p·β/s_t², coef_xt = α·s_p²/s_t², and variance β̃ = β·s_p²/s_t². For a DDPM β schedule
and consecutive steps these are Ho et al.'s β_t, β̃_t and eq. 7; on a subsequence they are the
"respaced" chain; on a σ schedule (a = 1) they give the ancestral sampler of NCSN (Song et al.
2021, appendix F). The model's ε̂ gives x̂₀ = (x_t − s_t·ε̂)/a_t. After the last level the chain
ends at the clean data (a_p = 1, s_p = 0), where the step returns x̂₀ itself.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.grids import make_grid, start_grid
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel, Start, select_levels
from scorekit_ddpm.config import AncestralConfig, DDIMConfig

__all__ = ["AncestralSampler", "DDIMSampler", "transitions"]


def transitions(schedule: NoiseSchedule, levels: torch.Tensor) -> list[dict[str, float]]:
    """For each level, the kernel (a_t, s_t), the next level's (a_p, s_p) and the step's α, β, posterior terms."""
    a, s = (v.double().tolist() for v in schedule.kernel(levels.double()))
    rows = []
    for k in range(len(levels)):
        a_t, s_t = a[k], s[k]
        a_p, s_p = (a[k + 1], s[k + 1]) if k + 1 < len(levels) else (1.0, 0.0)
        alpha = a_t / a_p
        beta = s_t**2 - alpha**2 * s_p**2
        if not (a_t > 0 and s_t > 0 and beta > 0):
            raise ConfigError(
                f"the schedule's levels must grow noisier from the last to the first (level {float(levels[k])}: "
                f"a = {a_t:.6g}, s = {s_t:.6g}, step variance {beta:.3g}) @ $.schedule"
            )
        rows.append(
            {
                "a_t": a_t,
                "s_t": s_t,
                "a_p": a_p,
                "s_p": s_p,
                "beta": beta,
                "posterior_variance": beta * s_p**2 / s_t**2,
                "coef_x0": a_p * beta / s_t**2,
                "coef_xt": alpha * s_p**2 / s_t**2,
            }
        )
    return rows


class _KernelSampler(Sampler):
    """The shared loop: x ← c_x·x − c_ε·ε̂ + σ·z per level, or through a clamped x̂₀ when ``clip_x0`` is set."""

    needs_schedule: ClassVar[bool] = True
    parametrization: ClassVar[str] = "epsilon"
    accepts_start: ClassVar[bool] = True

    def __init__(self, config: AncestralConfig | DDIMConfig) -> None:
        self.config = config

    def _levels(self, schedule: NoiseSchedule) -> torch.Tensor:
        """The levels walked: ``config.steps`` of the schedule's range on ``config.grid`` (all levels when None)."""
        if self.config.grid == "levels":
            return select_levels(schedule.levels(), self.config.steps)
        assert self.config.steps is not None  # the config requires it for other grids
        return make_grid(schedule, self.config.grid, self.config.steps)

    def _step(self, row: dict[str, float]) -> tuple[float, float, float, float]:
        """(sigma, x̂₀ weight, x_t weight, ε̂ weight) of x_p = w₀·x̂₀ + w_x·x_t + w_ε·ε̂ + σ·z."""
        raise NotImplementedError

    def prior_std(self, schedule: NoiseSchedule | None) -> float | None:
        if schedule is None:
            return None
        a, s = (float(v) for v in schedule.kernel(self._levels(schedule)[:1].double()))
        return math.hypot(a, s)

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        return None if schedule is None else len(self._levels(schedule))

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
        levels = self._levels(schedule)
        if start is not None and start.t is not None:
            levels = start_grid(levels, start.t, schedule)
        rows = transitions(schedule, levels)
        first = rows[0]
        if start is not None:
            x = start.x.to(device=device, dtype=dtype, copy=True)
        else:
            # x at the first level: N(0, (a² + s²)·I), exact for data of unit variance (1 for VP kernels).
            std = math.hypot(first["a_t"], first["s_t"])
            x = std * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        noise = torch.empty_like(x)
        # One (B,) time tensor per level, made before the loop: rows of an expanded column.
        times = levels.to(device=device, dtype=dtype)[:, None].expand(len(levels), shape[0])
        clip = self.config.clip_x0
        for k, row in enumerate(rows):
            sigma, w0, wx, we = self._step(row)
            eps = model(x, times[k])
            if clip is None:
                # x̂₀ = (x − s·ε̂)/a folded into the weights of x and ε̂.
                x.mul_(wx + w0 / row["a_t"]).add_(eps, alpha=we - w0 * row["s_t"] / row["a_t"])
            else:
                x0 = torch.sub(x, eps, alpha=row["s_t"]).div_(row["a_t"]).clamp_(-clip, clip)
                x.mul_(wx).add_(x0, alpha=w0).add_(eps, alpha=we)
            if sigma > 0:
                x.add_(noise.normal_(generator=generator), alpha=sigma)
        return x


class AncestralSampler(_KernelSampler):
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) with variance β_t or β̃_t.

    x_{t−1} = μ̃_t(x_t, x̂₀) + σ_t·z: the posterior mean at the model's x̂₀ and σ_t² = β̃_t
    (``variance = "posterior"``) or β_t (``"beta"``); no noise is added at the last step.
    ``steps`` samples on an evenly spaced subsequence of levels with the composed transitions.
    """

    config: AncestralConfig

    def _step(self, row: dict[str, float]) -> tuple[float, float, float, float]:
        last = row["s_p"] == 0.0
        variance = row["posterior_variance"] if self.config.variance == "posterior" or last else row["beta"]
        return math.sqrt(variance), row["coef_x0"], row["coef_xt"], 0.0


class DDIMSampler(_KernelSampler):
    """DDIM (Song, Meng & Ermon 2021, eq. 12) on ``steps`` evenly spaced levels.

    x_p = a_p·x̂₀ + √(s_p² − σ²)·ε̂ + σ·z with σ² = η²·β̃ (β̃ the posterior variance between the two
    levels): η = 0 is the deterministic sampler, η = 1 ancestral sampling on the subsequence.
    """

    config: DDIMConfig

    def _step(self, row: dict[str, float]) -> tuple[float, float, float, float]:
        variance = self.config.eta**2 * row["posterior_variance"]
        return math.sqrt(variance), row["a_p"], 0.0, math.sqrt(max(row["s_p"] ** 2 - variance, 0.0))

    def can_encode(self) -> bool:
        return self.config.eta == 0.0

    def encode(self, model: ScoreModel, x: torch.Tensor, *, schedule: NoiseSchedule | None) -> torch.Tensor:
        """DDIM inversion (Song, Meng & Ermon 2021, §4.3; Dhariwal & Nichol 2021): the η = 0 update run
        from the cleanest level to the noisiest, x_next = a_next·x̂₀ + s_next·ε̂ with ε̂ evaluated at the
        current level. x is taken as the state at the cleanest level (x_t = a·x for s ≪ a). Inverts
        :meth:`sample` up to the O(step) difference between ε̂ at the two ends of each step."""
        if self.config.eta != 0.0:
            super().encode(model, x, schedule=schedule)
        self.check(schedule)
        assert schedule is not None
        levels = self._levels(schedule).flip(0)  # cleanest first
        a, s = (v.double().tolist() for v in schedule.kernel(levels.double()))
        times = levels.to(device=x.device, dtype=x.dtype)[:, None].expand(len(levels), x.shape[0])
        x = x * a[0]
        for k in range(len(levels) - 1):
            eps = model(x, times[k])
            x0 = (x - s[k] * eps) / a[k]
            x = a[k + 1] * x0 + s[k + 1] * eps
        return x
