"""Entry point of the consistent_annealed plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_contrib_cas.config import ConsistentAnnealedConfig


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    register(
        "sampler",
        "consistent_annealed",
        factory="scorekit_contrib_cas.sampler:ConsistentAnnealedSampler",
        config=ConsistentAnnealedConfig,
        summary="consistent annealed sampling: one step per level, noise kept on schedule (CAS)",
    )
