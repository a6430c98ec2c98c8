"""Config classes of the sde plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.config import Component, nested_component
from scorekit.grids import GRIDS
from scorekit.validators import MAX_STEPS, FieldError, bounded, one_of, positive

__all__ = [
    "SDE_METHODS",
    "LangevinCorrectorConfig",
    "OUConfig",
    "ProbabilityFlowConfig",
    "ProbabilityFlowLikelihoodConfig",
    "ReverseSDEConfig",
    "SchemeConfig",
    "SubVPConfig",
    "VEConfig",
    "VPConfig",
]

#: The fixed-step SDE schemes of :func:`scorekit_sde.solvers.solve_sde`.
SDE_METHODS = ("euler_maruyama", "heun")


def _time(instance: object) -> None:
    if not 0 < instance.eps < instance.T:  # type: ignore[attr-defined]
        raise FieldError("eps", f"must lie in (0, T = {instance.T}), got {instance.eps}")  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class VEConfig:
    """Variance exploding: σ(t) = σ_min(σ_max/σ_min)^t, dx = σ(t)·√(2 log(σ_max/σ_min)) dw (Song et al. 2021)."""

    sigma_min: float = attrs.field(default=0.01, validator=positive())
    sigma_max: float = attrs.field(default=10.0, validator=positive())
    T: float = attrs.field(default=1.0, validator=positive())
    #: Smallest time used in training and sampling (the kernel is degenerate at 0).
    eps: float = attrs.field(default=1e-5, validator=positive())
    #: Levels a discrete sampler walks: ``num_levels`` times from T down to eps.
    num_levels: int = attrs.field(default=1000, validator=bounded(2, MAX_STEPS, "noise levels"))

    def __attrs_post_init__(self) -> None:
        if self.sigma_min >= self.sigma_max:
            raise FieldError("sigma_min", f"must be smaller than sigma_max ({self.sigma_max}), got {self.sigma_min}")
        _time(self)


@attrs.frozen(kw_only=True)
class VPConfig:
    """Variance preserving: β(t) = β_min + t(β_max − β_min), dx = −½β(t)x dt + √β(t) dw (DDPM's limit)."""

    beta_min: float = attrs.field(default=0.1, validator=positive())
    beta_max: float = attrs.field(default=20.0, validator=positive())
    T: float = attrs.field(default=1.0, validator=positive())
    eps: float = attrs.field(default=1e-3, validator=positive())
    num_levels: int = attrs.field(default=1000, validator=bounded(2, MAX_STEPS, "noise levels"))

    def __attrs_post_init__(self) -> None:
        if self.beta_max < self.beta_min:
            raise FieldError("beta_max", f"must be at least beta_min ({self.beta_min}), got {self.beta_max}")
        _time(self)


@attrs.frozen(kw_only=True)
class SubVPConfig(VPConfig):
    """sub-VP: the VP drift with g(t)² = β(t)(1 − e^{−2∫β}), whose variance stays below VP's."""


@attrs.frozen(kw_only=True)
class OUConfig:
    """Ornstein–Uhlenbeck dx = −θx dt + σ dw; stationary N(0, σ²/(2θ)·I)."""

    theta: float = attrs.field(default=1.0, validator=positive())
    sigma: float = attrs.field(default=1.0, validator=positive())
    T: float = attrs.field(default=5.0, validator=positive())
    eps: float = attrs.field(default=1e-3, validator=positive())
    num_levels: int = attrs.field(default=1000, validator=bounded(2, MAX_STEPS, "noise levels"))

    def __attrs_post_init__(self) -> None:
        _time(self)


@attrs.frozen(kw_only=True)
class SchemeConfig:
    """A predictor without options."""


@attrs.frozen(kw_only=True)
class LangevinCorrectorConfig:
    """Langevin MCMC x ← x + εs + √(2ε)z at fixed t (Song et al. 2021, Algorithm 4)."""

    #: The signal-to-noise ratio r: ε = 2(r‖z‖/‖s‖)², norms per sample averaged over the batch.
    snr: float = attrs.field(default=0.16, validator=positive())


@attrs.frozen(kw_only=True)
class ReverseSDEConfig:
    """Predictor–corrector sampling of the reverse-time SDE (Song et al. 2021, Algorithms 2–3)."""

    #: Predictor steps from T down to eps.
    steps: int = attrs.field(default=1000, validator=bounded(1, MAX_STEPS, "sampler steps"))
    #: Where the steps fall: "sde" (evenly spaced in t; geometric in σ for σ schedules), or a grid of
    #: :mod:`scorekit.grids` ("uniform", "karras", "logsnr", "quadratic", "levels").
    grid: str = attrs.field(default="sde", validator=one_of("sde", *GRIDS))
    #: The predictor, a registered component: one step of dx = [f − g²∇log p_t]dt + g dw̄
    #: ("euler_maruyama", "heun", or a plugin's); a bare name or a table with its options.
    predictor: Component = nested_component("predictor", "euler_maruyama")
    #: Corrector steps at each time (0: predictor only).
    corrector_steps: int = attrs.field(default=0, validator=bounded(0, MAX_STEPS, "sampler steps"))
    #: The corrector, a registered component ("langevin" with its ``snr``, or a plugin's).
    corrector: Component = nested_component("corrector", "langevin", snr=0.16)
    #: Return Tweedie's E[x₀ ∣ x_eps] = (x + s²∇log p)/a after the last step, not the noisy x_eps.
    denoise: bool = True


@attrs.frozen(kw_only=True)
class ProbabilityFlowConfig:
    """Samples of the probability-flow ODE dx/dt = f − ½g²∇log p_t, from the prior at T down to eps."""

    solver: Component = nested_component("solver", "dopri5", rtol=1e-5, atol=1e-5)
    #: Apply Tweedie's denoiser at eps, as the reverse-SDE sampler does by default.
    denoise: bool = False


@attrs.frozen(kw_only=True)
class ProbabilityFlowLikelihoodConfig:
    """log p(x) through the probability-flow ODE from eps to T: exact trace and adaptive steps by default.

    With Hutchinson's estimator the result is an unbiased estimate of the integrated trace, so of
    log p up to the solver's error (for images, where the exact trace costs d backward passes).
    """

    solver: Component = nested_component("solver", "dopri5", rtol=1e-5, atol=1e-5)
    estimator: Component = nested_component("trace_estimator", "exact")
