"""Entry point of the ism plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_ism.config import ISMConfig


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "loss",
        "ism",
        factory="scorekit_ism.loss:ImplicitScoreMatching",
        config=ISMConfig,
        summary="implicit score matching E[½‖s‖² + tr ∇ₓs] (Hyvärinen 2005)",
    )
