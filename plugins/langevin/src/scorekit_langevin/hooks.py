"""Entry point of the langevin plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_langevin.config import LangevinConfig


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "sampler",
        "langevin",
        factory="scorekit_langevin.sampler:LangevinSampler",
        config=LangevinConfig,
        summary="unadjusted Langevin dynamics at one noise level",
    )
