"""Config of the Langevin sampler (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import MAX_STEPS, bounded, one_of, positive

__all__ = ["LangevinConfig"]


@attrs.frozen(kw_only=True)
class LangevinConfig:
    """x ← x + (η/2)·s(x, σ) + √η·ε for ``num_steps`` steps from an initial N(0, init_std²I) or uniform draw."""

    step_size: float = attrs.field(default=1e-3, validator=positive())
    num_steps: int = attrs.field(default=1000, validator=bounded(1, MAX_STEPS, "sampler steps"))
    #: Noise level the model is conditioned on; None uses the smallest level of the run's schedule,
    #: or 0 (the clean data's score) when the run has none.
    sigma: float | None = attrs.field(default=None, validator=positive())
    init: str = attrs.field(default="normal", validator=one_of("normal", "uniform"))
    #: Scale of the initial draw: N(0, init_std²I), or uniform on [−init_std, init_std]^d.
    init_std: float = attrs.field(default=1.0, validator=positive())
