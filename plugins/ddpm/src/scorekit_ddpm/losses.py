"""DDPM's simple loss (Ho et al. 2020, eq. 14) on any kernel prediction."""

from __future__ import annotations

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.tensors import append_dims, batch_sum
from scorekit_ddpm.config import DDPMLossConfig

__all__ = ["DDPMLoss"]


class DDPMLoss(Loss):
    """E_t E_ε ½‖target − f_θ(x_t, t)‖², x_t = a(t)·x₀ + s(t)·ε, t uniform over the schedule's levels.

    The target is the configured ``prediction`` (this loss's ``parametrization``): ε (L_simple), x₀,
    v = a·ε − s·x₀, or the score −ε/s, whose loss is taken as ½‖s·s_θ + ε‖². The model may predict
    any of them; the engine converts its output before the loss sees it. For ε this *is* denoising
    score matching with λ = s²: with s_θ = −ε_θ/s, ½‖s·s_θ + ε‖² = ½‖ε − ε_θ‖², the ``ncsn`` loss on
    the same schedule (so ``score`` and ``epsilon`` are the same objective). Sums over event
    dimensions, averages over the batch.
    """

    def __init__(self, config: DDPMLossConfig) -> None:
        self.config = config
        self.parametrization = config.prediction

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        if schedule is None:
            raise ConfigError("the ddpm loss needs a [schedule] section @ $.schedule")
        t = schedule.sample_t(x0.shape[0], generator=generator, device=x0.device)
        x_t, eps = schedule.perturb(x0, t, generator=generator)
        output = model(x_t, t)
        if self.parametrization == "epsilon":
            residual = output - eps
        elif self.parametrization == "x0":
            residual = output - x0
        else:
            a, s = (append_dims(v.to(x0.dtype), x0) for v in schedule.kernel(t))
            residual = output - (a * eps - s * x0) if self.parametrization == "v" else output * s + eps
        return 0.5 * batch_sum(residual.square()).mean()
