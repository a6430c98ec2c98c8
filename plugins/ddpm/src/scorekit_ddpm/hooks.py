"""Entry point of the ddpm plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from importlib import resources

from scorekit import RegisterComponent, RegisterPreset, hookimpl
from scorekit_ddpm import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "schedule",
        "linear",
        factory="scorekit_ddpm.schedules:LinearSchedule",
        config=config.LinearScheduleConfig,
        summary="DDPM β_t linear in t (Ho et al. 2020)",
    )
    register(
        "schedule",
        "cosine",
        factory="scorekit_ddpm.schedules:CosineSchedule",
        config=config.CosineScheduleConfig,
        summary="DDPM cosine ᾱ_t (Nichol & Dhariwal 2021)",
    )
    register(
        "schedule",
        "betas",
        factory="scorekit_ddpm.schedules:ExplicitBetas",
        config=config.BetasConfig,
        summary="a user-given list of DDPM β_t",
    )
    register(
        "loss",
        "ddpm",
        factory="scorekit_ddpm.losses:DDPMLoss",
        config=config.DDPMLossConfig,
        summary="DDPM's simple loss ½‖ε − ε_θ(x_t, t)‖² (or its x₀, v, score forms)",
    )
    register(
        "sampler",
        "ddpm",
        factory="scorekit_ddpm.samplers:AncestralSampler",
        config=config.AncestralConfig,
        summary="ancestral sampling, variance β_t or β̃_t (Ho et al. 2020, Alg. 2)",
    )
    register(
        "sampler",
        "ddim",
        factory="scorekit_ddpm.samplers:DDIMSampler",
        config=config.DDIMConfig,
        summary="DDIM on a subsequence of steps, η = 0 deterministic (Song et al. 2021)",
    )


@hookimpl
def scorekit_register_presets(register: RegisterPreset) -> None:
    files = resources.files("scorekit_ddpm")
    register(
        "ddpm",
        files.joinpath("ddpm.toml").read_text(encoding="utf-8"),
        summary="DDPM on eight_gaussians: ε-prediction MLP, linear β, ancestral sampling",
    )
    register(
        "ddpm_digits",
        files.joinpath("ddpm_digits.toml").read_text(encoding="utf-8"),
        summary="DDPM on scikit-learn's 8×8 digits: small UNet, cosine schedule",
    )
