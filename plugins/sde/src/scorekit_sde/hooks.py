"""Entry point of the sde plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from importlib import resources

from scorekit import RegisterComponent, RegisterPreset, hookimpl
from scorekit_sde import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "predictor",
        "euler_maruyama",
        factory="scorekit_sde.predictor_corrector:EulerMaruyamaPredictor",
        config=config.SchemeConfig,
        summary="Euler–Maruyama step of the reverse-time SDE",
    )
    register(
        "predictor",
        "heun",
        factory="scorekit_sde.predictor_corrector:HeunPredictor",
        config=config.SchemeConfig,
        summary="stochastic Heun step of the reverse-time SDE (two evaluations)",
    )
    register(
        "corrector",
        "langevin",
        factory="scorekit_sde.predictor_corrector:LangevinCorrector",
        config=config.LangevinCorrectorConfig,
        summary="Langevin MCMC at fixed t with the signal-to-noise step rule (Song et al. 2021, Alg. 4)",
    )
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
    register(
        "sampler",
        "reverse_sde",
        factory="scorekit_sde.reverse:ReverseSDESampler",
        config=config.ReverseSDEConfig,
        summary="the reverse-time SDE from the prior (Euler–Maruyama or Heun), optional Langevin corrector",
    )
    register(
        "sampler",
        "probability_flow",
        factory="scorekit_sde.reverse:ProbabilityFlowSampler",
        config=config.ProbabilityFlowConfig,
        summary="the probability-flow ODE from the prior, by any registered ODE solver",
    )
    register(
        "likelihood",
        "probability_flow",
        factory="scorekit_sde.reverse:ProbabilityFlowLikelihood",
        config=config.ProbabilityFlowLikelihoodConfig,
        summary="log p(x) of a score model through its probability-flow ODE, any trace estimator",
    )


@hookimpl
def scorekit_register_presets(register: RegisterPreset) -> None:
    for name, summary in (
        ("vpsde", "a VP-SDE on eight_gaussians: reverse-SDE samples, probability-flow likelihood"),
        ("vesde", "a VE-SDE on eight_gaussians: reverse-SDE samples, probability-flow likelihood"),
    ):
        text = resources.files("scorekit_sde").joinpath(f"{name}.toml").read_text(encoding="utf-8")
        register(name, text, summary=summary)
