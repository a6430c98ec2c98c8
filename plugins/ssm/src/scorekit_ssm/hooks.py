"""Entry point of the ssm plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_ssm.config import SSMConfig


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "loss",
        "ssm",
        factory="scorekit_ssm.loss:SlicedScoreMatching",
        config=SSMConfig,
        summary="sliced score matching E[vᵀ∇ₓs v + ½(vᵀs)²] (Song et al. 2019)",
    )
    register(
        "loss",
        "ssm_vr",
        factory="scorekit_ssm.loss:SlicedScoreMatchingVR",
        config=SSMConfig,
        summary="sliced score matching, variance reduced: E[vᵀ∇ₓs v + ½‖s‖²]",
    )
