"""Unadjusted Langevin dynamics with a learned score."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.errors import UserError
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel, Start
from scorekit_langevin.config import LangevinConfig

__all__ = ["LangevinSampler", "initial_state", "langevin_steps"]


def initial_state(
    shape: tuple[int, ...],
    init: str,
    scale: float,
    *,
    generator: torch.Generator | None,
    device: torch.device | str,
    dtype: torch.dtype,
) -> torch.Tensor:
    """N(0, scale²I) for ``init = "normal"``, uniform on [−scale, scale] for ``"uniform"``."""
    if init == "normal":
        return scale * torch.randn(shape, generator=generator, device=device, dtype=dtype)
    return scale * (2 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1)


def langevin_steps(
    model: ScoreModel,
    x: torch.Tensor,
    t: torch.Tensor,
    step_size: float,
    num_steps: int,
    *,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """``num_steps`` of x ← x + (η/2)·s(x, t) + √η·ε, ε ~ N(0, I), in place on a copy of x.

    The lecture's convention (η/2 on the score, √η on the noise) is the Euler–Maruyama step of
    the Langevin SDE dx = ½∇log p dt + dw with dt = η, whose stationary density is p.
    """
    x = x.clone()
    noise_scale = math.sqrt(step_size)
    for _ in range(num_steps):
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x.add_(model(x, t), alpha=0.5 * step_size).add_(noise, alpha=noise_scale)
    return x


class LangevinSampler(Sampler):
    """Langevin dynamics x_{k+1} = x_k + (η/2)·s(x_k) + √η·ε_k (Roberts & Tweedie 1996; lecture 13).

    Samples from p exactly only as η → 0 and k → ∞; with a noise-conditional model the score is
    taken at ``sigma`` (default: the schedule's smallest σ, or 0 without a schedule), so the
    target is p_σ.
    """

    needs_schedule: ClassVar[bool] = False
    #: ``start.x`` replaces the initial draw (warm-starting a chain); ``start.t`` must be None: one level.
    accepts_start: ClassVar[bool] = True

    def __init__(self, config: LangevinConfig) -> None:
        self.config = config

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        return self.config.num_steps

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
        config = self.config
        if start is not None and start.t is not None:
            raise UserError("langevin runs at one noise level: give its start without a time t")
        if config.sigma is not None:
            level = config.sigma
        elif schedule is not None:
            level = float(schedule.levels()[-1])
        else:
            level = 0.0  # a model of the clean data's score (ISM, SSM) is evaluated at σ = 0
        if start is not None:
            x = start.x.to(device=device, dtype=dtype)
        else:
            x = initial_state(shape, config.init, config.init_std, generator=generator, device=device, dtype=dtype)
        t = torch.full((shape[0],), level, device=device, dtype=dtype)
        return langevin_steps(model, x, t, config.step_size, config.num_steps, generator=generator)
