"""Entry point of the hutchinson plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_hutchinson import config


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "trace_estimator",
        "exact",
        factory="scorekit_hutchinson.exact:ExactTrace",
        config=config.ExactTraceConfig,
        summary="tr ∂f/∂x exactly: one vector–Jacobian product per event dimension",
    )
    register(
        "trace_estimator",
        "hutchinson",
        factory="scorekit_hutchinson.hutchinson:HutchinsonTrace",
        config=config.HutchinsonConfig,
        summary="tr ∂f/∂x ≈ mean of εᵀ(∂f/∂x)ε over random probes (Hutchinson 1989)",
    )
