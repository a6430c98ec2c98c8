"""Entry point of the fast_samplers plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_fast_samplers import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "sampler",
        "karras_euler",
        factory="scorekit_fast_samplers.samplers:KarrasEuler",
        config=config.KarrasConfig,
        summary="Euler steps of the probability-flow ODE in σ (Karras et al. 2022), order 1",
    )
    register(
        "sampler",
        "karras_heun",
        factory="scorekit_fast_samplers.samplers:KarrasHeun",
        config=config.KarrasConfig,
        summary="Heun steps of the probability-flow ODE in σ (Karras et al. 2022, Alg. 1), order 2",
    )
    register(
        "sampler",
        "karras_stochastic",
        factory="scorekit_fast_samplers.samplers:KarrasStochastic",
        config=config.KarrasStochasticConfig,
        summary="Karras et al. 2022, Alg. 2: churn noise, then Heun steps",
    )
    register(
        "sampler",
        "dpmpp",
        factory="scorekit_fast_samplers.samplers:DPMSolverPP",
        config=config.DPMSolverConfig,
        summary="DPM-Solver++ multistep, order 1–3 (Lu et al. 2022); 2M by default",
    )
    register(
        "sampler",
        "unipc",
        factory="scorekit_fast_samplers.samplers:UniPC",
        config=config.UniPCConfig,
        summary="UniPC predictor-corrector (Zhao et al. 2023), bh2, order 2 by default",
    )
