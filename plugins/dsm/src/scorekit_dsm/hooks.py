"""Entry point of the dsm plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_dsm import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "schedule",
        "geometric",
        factory="scorekit_dsm.schedules:GeometricSchedule",
        config=config.GeometricScheduleConfig,
        summary="σ₁ > … > σ_L in geometric progression (NCSN)",
    )
    register(
        "schedule",
        "sigmas",
        factory="scorekit_dsm.schedules:ExplicitSigmas",
        config=config.ExplicitSigmasConfig,
        summary="a user-given decreasing list of σ",
    )
    register(
        "loss",
        "dsm",
        factory="scorekit_dsm.losses:DSMLoss",
        config=config.DSMLossConfig,
        summary="denoising score matching at one σ (Vincent 2011)",
    )
    register(
        "loss",
        "ncsn",
        factory="scorekit_dsm.losses:NCSNLoss",
        config=config.NCSNLossConfig,
        summary="σ²-weighted multi-level DSM (Song & Ermon 2019)",
    )
