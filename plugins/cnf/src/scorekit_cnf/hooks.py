"""Entry point of the cnf plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from importlib import resources

from scorekit import RegisterComponent, RegisterPreset, hookimpl
from scorekit_cnf import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "model",
        "cnf_mlp",
        factory="scorekit_cnf.model:CNFMLP",
        config=config.CNFMLPConfig,
        summary="CNF dynamics f(z, t): an MLP with t concatenated to every layer's input",
    )
    register(
        "loss",
        "cnf",
        factory="scorekit_cnf.flow:CNFLoss",
        config=config.CNFLossConfig,
        summary="maximum likelihood of a continuous normalizing flow, −E log p(x) (FFJORD)",
    )
    register(
        "likelihood",
        "cnf",
        factory="scorekit_cnf.flow:CNFLikelihood",
        config=config.CNFLikelihoodConfig,
        summary="log p(x) of a continuous normalizing flow by the augmented ODE",
    )
    register(
        "sampler",
        "cnf",
        factory="scorekit_cnf.flow:CNFSampler",
        config=config.CNFSamplerConfig,
        summary="samples of a continuous normalizing flow: N(0, I) integrated from t1 back to 0",
    )


@hookimpl
def scorekit_register_presets(register: RegisterPreset) -> None:
    register(
        "cnf",
        resources.files("scorekit_cnf").joinpath("cnf.toml").read_text(encoding="utf-8"),
        summary="a CNF on eight_gaussians (maximum likelihood, RK4 + Hutchinson in training)",
    )
