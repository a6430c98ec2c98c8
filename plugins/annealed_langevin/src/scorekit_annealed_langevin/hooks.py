"""Entry point of the annealed_langevin plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_annealed_langevin.config import AnnealedLangevinConfig


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "sampler",
        "annealed_langevin",
        factory="scorekit_annealed_langevin.sampler:AnnealedLangevin",
        config=AnnealedLangevinConfig,
        summary="annealed Langevin dynamics over the schedule's levels (NCSN)",
    )
