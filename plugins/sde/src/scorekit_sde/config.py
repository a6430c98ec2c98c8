"""Config classes of the sde plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import FieldError, at_least, in_range, positive

__all__ = ["OUConfig", "SubVPConfig", "VEConfig", "VPConfig"]


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
    num_levels: int = attrs.field(default=1000, validator=at_least(2))

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
    num_levels: int = attrs.field(default=1000, validator=at_least(2))

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
    num_levels: int = attrs.field(default=1000, validator=[at_least(2), in_range(2, 10**6)])

    def __attrs_post_init__(self) -> None:
        _time(self)
