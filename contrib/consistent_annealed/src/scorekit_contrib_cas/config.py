"""Config of the consistent annealed sampler (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import positive

__all__ = ["ConsistentAnnealedConfig"]


@attrs.frozen(kw_only=True)
class ConsistentAnnealedConfig:
    """One step per level, x ← x + η·σ_i²·s(x, σ_i) + β·σ_{i+1}·z with η = ε/σ_L².

    ε must lie in [σ_L²(1 − 1/γ), σ_L²(1 + 1/γ)] for the schedule's ratio γ = σ_i/σ_{i+1}; that
    needs the schedule, so it is checked when sampling (see ``ConsistentAnnealedSampler``).
    """

    #: The step at the last level, α_L = ε (Jolicoeur-Martineau et al. 2021). The default, η = 0.6,
    #: suits the ncsn preset (σ_L = 0.05, 10 levels: ε ∈ [1.08e-3, 3.92e-3]).
    epsilon: float = attrs.field(default=1.5e-3, validator=positive())
    #: Finish with the Tweedie denoising step x ← x + σ_L²·s(x, σ_L) (Efron 2011).
    denoise: bool = True
