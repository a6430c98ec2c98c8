"""Config classes of the dsm plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import MAX_STEPS, bounded, decreasing, one_of, positive

__all__ = ["TRAINING", "DSMLossConfig", "ExplicitSigmasConfig", "GeometricScheduleConfig", "NCSNLossConfig"]

#: How training draws σ (``SigmaSchedule.sample_t``): "continuous" (the default), log σ uniform over
#: [σ_L, σ₁] with the half level step at each end drawn twice as often, so every σ of the range is
#: trained and the end levels as densely as the inner ones; "log_uniform", log σ uniform over
#: [σ_L, σ₁]; "levels", the L levels only (Song & Ermon 2019), which leaves the score between them
#: untrained.
TRAINING = ("continuous", "log_uniform", "levels")


@attrs.frozen(kw_only=True)
class GeometricScheduleConfig:
    """σ_l = σ_max·(σ_min/σ_max)^((l−1)/(L−1)), l = 1…L: σ₁ = σ_max > … > σ_L = σ_min."""

    sigma_max: float = attrs.field(default=8.0, validator=positive())
    sigma_min: float = attrs.field(default=0.05, validator=positive())
    num_levels: int = attrs.field(default=10, validator=bounded(2, MAX_STEPS, "noise levels"))
    training: str = attrs.field(default="continuous", validator=one_of(*TRAINING))

    def __attrs_post_init__(self) -> None:
        from scorekit.validators import FieldError

        if self.sigma_min >= self.sigma_max:
            raise FieldError("sigma_min", f"must be smaller than sigma_max ({self.sigma_max}), got {self.sigma_min}")


@attrs.frozen(kw_only=True)
class ExplicitSigmasConfig:
    """A user-given σ₁ > … > σ_L."""

    sigmas: list[float] = attrs.field(validator=decreasing())
    #: How training draws σ, as for ``geometric``.
    training: str = attrs.field(default="continuous", validator=one_of(*TRAINING))


@attrs.frozen(kw_only=True)
class DSMLossConfig:
    """Single-σ denoising score matching; the model is conditioned on this σ."""

    sigma: float = attrs.field(default=0.1, validator=positive())


@attrs.frozen(kw_only=True)
class NCSNLossConfig:
    """Multi-level DSM over the run's schedule with weight λ(σ) = σ^power (2 in Song & Ermon 2019)."""

    weight_power: float = 2.0
