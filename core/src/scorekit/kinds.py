"""The component kinds, in one table: the registry, the config sections and the interface checks read it.

Torch-free (plugin discovery and ``scorekit --help`` import it); interfaces are named, not imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["KINDS", "Kind", "interface_of"]


@dataclass(frozen=True)
class Kind:
    """One kind of component."""

    #: The registry kind, as plugins register it: ``register(name, ...)``.
    name: str
    #: ``"module:Class"`` of the interface a built component must be an instance of; None for data
    #: sets, which the engine checks when it prepares them.
    interface: str | None
    #: Its ``[section]`` in a run config; None for kinds that only nest in another component's
    #: config (a sampler's solver, a loss's trace estimator).
    section: str | None
    #: Whether a run config must have the section.
    required: bool = False


KINDS: tuple[Kind, ...] = (
    Kind("dataset", None, "data", required=True),
    Kind("model", "scorekit.interfaces:ScoreModel", "model", required=True),
    Kind("schedule", "scorekit.interfaces:NoiseSchedule", "schedule"),
    Kind("loss", "scorekit.interfaces:Loss", "loss", required=True),
    Kind("sampler", "scorekit.interfaces:Sampler", "sampler"),
    Kind("solver", "scorekit.interfaces:Solver", None),
    Kind("trace_estimator", "scorekit.interfaces:TraceEstimator", None),
    Kind("likelihood", "scorekit.interfaces:Likelihood", "likelihood"),
    Kind("predictor", "scorekit.interfaces:Predictor", None),
    Kind("corrector", "scorekit.interfaces:Corrector", None),
)


def interface_of(kind: str) -> type | None:
    """The interface a component of registry ``kind`` implements (None for data sets and unknown kinds)."""
    for entry in KINDS:
        if entry.name == kind and entry.interface is not None:
            module, _, name = entry.interface.partition(":")
            interface: type = getattr(importlib.import_module(module), name)
            return interface
    return None
