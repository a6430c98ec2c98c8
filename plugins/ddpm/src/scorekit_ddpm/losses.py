"""DDPM's simple loss (Ho et al. 2020, eq. 14) for any kernel prediction."""

from __future__ import annotations

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.tensors import append_dims, batch_sum
from scorekit_ddpm.config import DDPMLossConfig

__all__ = ["DDPMLoss"]


class DDPMLoss(Loss):
    """E_t E_ε ½‖target − f_θ(x_t, t)‖², x_t = a(t)·x₀ + s(t)·ε, t uniform over the schedule's levels.

    The target is what the model predicts (``ScoreModel.parametrization``): ε (L_simple), x₀, or
    v = a·ε − s·x₀. For ε-prediction this *is* denoising score matching with λ = s²: with
    s_θ = −ε_θ/s, ½‖s·s_θ + ε‖² = ½‖ε − ε_θ‖², the ``ncsn`` loss on the same schedule. A score
    model gets exactly that DSM form. Sums over event dimensions, averages over the batch.
    """

    def __init__(self, config: DDPMLossConfig) -> None:
        self.config = config

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
        prediction = model.parametrization
        if prediction == "epsilon":
            residual = output - eps
        elif prediction == "x0":
            residual = output - x0
        elif prediction in ("v", "score"):
            a, s = (append_dims(v.to(x0.dtype), x0) for v in schedule.kernel(t))
            residual = output - (a * eps - s * x0) if prediction == "v" else output * s + eps
        else:
            raise ConfigError(
                f"the ddpm loss trains models that predict ε, x0, v or the score, not {prediction!r} @ $.model"
            )
        return 0.5 * batch_sum(residual.square()).mean()
