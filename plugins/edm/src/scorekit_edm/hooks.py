"""Entry point of the edm plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from importlib import resources

from scorekit import RegisterComponent, RegisterPreset, hookimpl
from scorekit_edm import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "model",
        "edm_precond",
        factory="scorekit_edm.edm:EDMPrecond",
        config=config.EDMPrecondConfig,
        summary="EDM's preconditioned denoiser around any network (Karras et al. 2022, Table 1)",
    )
    register(
        "loss",
        "edm",
        factory="scorekit_edm.edm:EDMLoss",
        config=config.EDMLossConfig,
        summary="EDM's loss: log-normal σ, weight (σ² + σ_d²)/(σ·σ_d)² on the denoiser's error",
    )
    register(
        "schedule",
        "edm",
        factory="scorekit_edm.edm:EDMSchedule",
        config=config.EDMScheduleConfig,
        summary="EDM's σ range (0.002 to 80) on Karras' ρ grid, log-normal training σ",
    )


@hookimpl
def scorekit_register_presets(register: RegisterPreset) -> None:
    files = resources.files("scorekit_edm")
    register(
        "edm",
        files.joinpath("edm.toml").read_text(encoding="utf-8"),
        summary="EDM on eight_gaussians: preconditioned time_mlp, EDM loss, Heun in 35 evaluations",
    )
    register(
        "edm_digits",
        files.joinpath("edm_digits.toml").read_text(encoding="utf-8"),
        summary="EDM on 8×8 digits: preconditioned UNet, EDM loss, Heun in 35 evaluations",
    )
