"""Config of the annealed Langevin sampler (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import MAX_STEPS, bounded, one_of, positive

__all__ = ["AnnealedLangevinConfig"]


@attrs.frozen(kw_only=True)
class AnnealedLangevinConfig:
    """T steps per level with α_l = ε·σ_l²/σ_L² (Song & Ermon 2019, Algorithm 1)."""

    steps_per_level: int = attrs.field(default=100, validator=bounded(1, MAX_STEPS, "sampler steps"))
    epsilon: float = attrs.field(default=2e-5, validator=positive())
    #: Finish with the Tweedie denoising step x ← x + σ_L²·s(x, σ_L)
    #: (Song & Ermon 2020; Jolicoeur-Martineau et al. 2021).
    denoise: bool = True
    #: "normal": x ~ N(0, init_std²I), close to p_σ₁ when σ₁ dominates the data's scale; "uniform":
    #: U[−init_std, init_std]^d, as in NCSN (there on images in [0, 1]).
    init: str = attrs.field(default="normal", validator=one_of("normal", "uniform"))
    #: Scale of the initial draw; None: √(a₁² + s₁²) for "normal" (σ₁ on a σ schedule, the std of
    #: p_σ₁ for standardized data) and 1 for "uniform".
    init_std: float | None = attrs.field(default=None, validator=positive())
    #: Anneal through this many of the schedule's levels, evenly spaced, both ends kept; None: all
    #: (a diffusion schedule's 1000 steps are many).
    levels: int | None = attrs.field(default=None, validator=bounded(1, MAX_STEPS, "noise levels"))
