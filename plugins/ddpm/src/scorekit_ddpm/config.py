"""Config classes of the ddpm plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import math

import attrs

from scorekit.grids import GRIDS
from scorekit.validators import MAX_STEPS, FieldError, bounded, in_range, one_of, positive

__all__ = [
    "AncestralConfig",
    "BetasConfig",
    "CosineScheduleConfig",
    "DDIMConfig",
    "DDPMLossConfig",
    "LinearScheduleConfig",
]


@attrs.frozen(kw_only=True)
class LinearScheduleConfig:
    """β_t linear from beta_start to beta_end over T = num_steps steps (Ho et al. 2020: 1e-4, 0.02, 1000)."""

    num_steps: int = attrs.field(default=1000, validator=bounded(2, MAX_STEPS, "schedule steps"))
    beta_start: float = attrs.field(default=1e-4, validator=in_range(1e-12, 0.999))
    beta_end: float = attrs.field(default=0.02, validator=in_range(1e-12, 0.999))

    def __attrs_post_init__(self) -> None:
        if self.beta_end < self.beta_start:
            raise FieldError("beta_end", f"must be at least beta_start ({self.beta_start}), got {self.beta_end}")


@attrs.frozen(kw_only=True)
class CosineScheduleConfig:
    """ᾱ(t) = f(t)/f(0), f(t) = cos²(π/2·(t/T + s)/(1 + s)), β_t capped at max_beta (Nichol & Dhariwal 2021)."""

    num_steps: int = attrs.field(default=1000, validator=bounded(2, MAX_STEPS, "schedule steps"))
    offset: float = attrs.field(default=0.008, validator=in_range(0.0, 1.0))
    max_beta: float = attrs.field(default=0.999, validator=in_range(1e-6, 0.999999))


def _betas(instance: object, attribute: attrs.Attribute[list[float]], value: list[float]) -> None:
    if len(value) < 2:
        raise FieldError(attribute.name, f"needs at least 2 steps, got {len(value)}")
    for i, beta in enumerate(value):
        if not (isinstance(beta, int | float) and math.isfinite(beta) and 0 < beta < 1):
            raise FieldError(attribute.name, f"every β must lie in (0, 1); entry {i} is {beta!r}")


@attrs.frozen(kw_only=True)
class BetasConfig:
    """β₁ … β_T as given (each in (0, 1)); ᾱ_t = Π(1 − β_s)."""

    betas: list[float] = attrs.field(validator=_betas)


@attrs.frozen(kw_only=True)
class DDPMLossConfig:
    """L_simple: ½‖target − f_θ(x_t, t)‖², t uniform over the levels, on the prediction named here."""

    #: The quantity the loss regresses: "epsilon" (Ho et al.'s L_simple), "x0", "v" (Salimans & Ho
    #: 2022) or "score" (DSM with λ = s²). Any network trains with any of them: the engine converts
    #: its output through the kernel; the choice sets only the weighting over t.
    prediction: str = attrs.field(default="epsilon", validator=one_of("epsilon", "x0", "v", "score"))


@attrs.frozen(kw_only=True)
class AncestralConfig:
    """x_{t−1} ~ p_θ(x_{t−1} ∣ x_t): the posterior mean at x̂₀ and variance β_t or β̃_t (Ho et al. 2020, Alg. 2)."""

    #: "posterior": β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t); "beta": β_t (the two choices of Ho et al. §3.2).
    variance: str = attrs.field(default="posterior", validator=one_of("posterior", "beta"))
    #: Sample on this many levels (both ends of the schedule kept); None: all of the schedule's.
    steps: int | None = attrs.field(default=None, validator=bounded(1, MAX_STEPS, "sampler steps"))
    #: Where the levels fall (:mod:`scorekit.grids`): "levels" (evenly spaced by index), "karras",
    #: "logsnr"; "uniform", "quadratic" on continuous schedules. On a discrete schedule a grid lands on
    #: its nearest levels, repeats dropped.
    grid: str = attrs.field(default="levels", validator=one_of(*GRIDS))
    #: Clamp x̂₀ to [−clip, clip] in model space before the posterior mean (images in [−1, 1]: 1).
    clip_x0: float | None = attrs.field(default=None, validator=positive())

    def __attrs_post_init__(self) -> None:
        if self.steps is None and self.grid != "levels":
            raise FieldError("steps", f"a {self.grid} grid needs a number of steps")


@attrs.frozen(kw_only=True)
class DDIMConfig:
    """DDIM on an evenly spaced subsequence of levels (Song, Meng & Ermon 2021); η = 0 is deterministic."""

    steps: int = attrs.field(default=50, validator=bounded(1, MAX_STEPS, "sampler steps"))
    eta: float = attrs.field(default=0.0, validator=in_range(0.0, 1.0))
    #: Where the levels fall, as for the ancestral sampler.
    grid: str = attrs.field(default="levels", validator=one_of(*GRIDS))
    clip_x0: float | None = attrs.field(default=None, validator=positive())
