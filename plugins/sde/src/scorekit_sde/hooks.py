"""Entry point of the sde plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from typing import Any

from scorekit import hookimpl
from scorekit_sde import config


@hookimpl
def scorekit_register_components(register: Any) -> None:
    register(
        "schedule",
        "ve",
        factory="scorekit_sde.sde:VESDE",
        config=config.VEConfig,
        summary="variance-exploding SDE, σ(t) = σ_min(σ_max/σ_min)^t (Song et al. 2021)",
    )
    register(
        "schedule",
        "vp",
        factory="scorekit_sde.sde:VPSDE",
        config=config.VPConfig,
        summary="variance-preserving SDE, linear β(t): DDPM's continuous limit",
    )
    register(
        "schedule",
        "subvp",
        factory="scorekit_sde.sde:SubVPSDE",
        config=config.SubVPConfig,
        summary="sub-VP SDE: the VP drift with a smaller diffusion (Song et al. 2021)",
    )
    register(
        "schedule",
        "ou",
        factory="scorekit_sde.sde:OrnsteinUhlenbeck",
        config=config.OUConfig,
        summary="Ornstein–Uhlenbeck dx = −θx dt + σ dw",
    )
