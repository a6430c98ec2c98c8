"""Config classes of the edm plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.config import Component, nested_component
from scorekit.validators import MAX_STEPS, FieldError, bounded, in_range

__all__ = ["EDMLossConfig", "EDMPrecondConfig", "EDMScheduleConfig"]


@attrs.frozen(kw_only=True)
class EDMPrecondConfig:
    """D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)) around any network F (Karras et al. 2022, Table 1)."""

    #: The network F, any registered model; it sees c_in·x and the time c_noise = ¼·ln σ, which the
    #: built-in time_mlp embeds after multiplying by its time_scale (250 here: about DDPM's 0…1000 range).
    network: Component = nested_component("model", "time_mlp", time_scale=250.0)
    #: The data's standard deviation σ_data (of the standardized data the model sees).
    sigma_data: float = attrs.field(default=0.5, validator=in_range(1e-6, 1e6))


@attrs.frozen(kw_only=True)
class EDMLossConfig:
    """λ(σ)·‖D(x + σε; σ) − x‖², ln σ ~ N(P_mean, P_std²), λ = (σ² + σ_data²)/(σ·σ_data)² (Karras et al. 2022)."""

    p_mean: float = attrs.field(default=-1.2, validator=in_range(-20.0, 20.0))
    p_std: float = attrs.field(default=1.2, validator=in_range(1e-3, 10.0))
    sigma_data: float = attrs.field(default=0.5, validator=in_range(1e-6, 1e6))


@attrs.frozen(kw_only=True)
class EDMScheduleConfig:
    """The σ range of EDM, t = σ: levels on Karras' ρ grid from sigma_max down to sigma_min."""

    sigma_max: float = attrs.field(default=80.0, validator=in_range(1e-6, 1e6))
    sigma_min: float = attrs.field(default=0.002, validator=in_range(1e-9, 1e6))
    rho: float = attrs.field(default=7.0, validator=in_range(0.1, 100.0))
    num_levels: int = attrs.field(default=18, validator=bounded(2, MAX_STEPS, "schedule levels"))
    #: σ drawn in training by losses that use the schedule's sample_t: EDM's log-normal.
    p_mean: float = attrs.field(default=-1.2, validator=in_range(-20.0, 20.0))
    p_std: float = attrs.field(default=1.2, validator=in_range(1e-3, 10.0))

    def __attrs_post_init__(self) -> None:
        if self.sigma_min >= self.sigma_max:
            raise FieldError("sigma_min", f"must be below sigma_max ({self.sigma_max}), got {self.sigma_min}")
