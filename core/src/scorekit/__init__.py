"""scorekit: score-based and diffusion generative models on a small core and plugins.

Public names are loaded lazily (PEP 562) so that importing the package, and running
``scorekit --help``, does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "COMPONENT_KINDS": "scorekit._registry",
    "CheckpointError": "scorekit.errors",
    "ConfigError": "scorekit.errors",
    "DataError": "scorekit.errors",
    "DataSource": "scorekit.data.sources",
    "Likelihood": "scorekit.interfaces",
    "Loss": "scorekit.interfaces",
    "NoiseSchedule": "scorekit.interfaces",
    "OutOfRangeError": "scorekit.errors",
    "PluginError": "scorekit.errors",
    "RegisterComponent": "scorekit._registry",
    "RegisterPreset": "scorekit._registry",
    "RunDirectoryError": "scorekit.errors",
    "Registry": "scorekit._registry",
    "Run": "scorekit.engine.run",
    "RunConfig": "scorekit.config",
    "Sampler": "scorekit.interfaces",
    "ScoreModel": "scorekit.interfaces",
    "ScorekitError": "scorekit.errors",
    "Solution": "scorekit.interfaces",
    "SolveStats": "scorekit.interfaces",
    "Solver": "scorekit.interfaces",
    "SolverError": "scorekit.errors",
    "Start": "scorekit.interfaces",
    "TraceEstimator": "scorekit.interfaces",
    "UserError": "scorekit.errors",
    "append_dims": "scorekit.tensors",
    "batch_sum": "scorekit.tensors",
    "get_plugin_manager": "scorekit._registry",
    "hookimpl": "scorekit._hookspecs",
    "hookspec": "scorekit._hookspecs",
    "load": "scorekit.engine.run",
    "load_config": "scorekit.config",
    "load_registry": "scorekit._registry",
    "odeint": "scorekit.ode",
}

__all__ = [
    "COMPONENT_KINDS",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataSource",
    "Likelihood",
    "Loss",
    "NoiseSchedule",
    "OutOfRangeError",
    "PluginError",
    "RegisterComponent",
    "RegisterPreset",
    "Registry",
    "Run",
    "RunConfig",
    "RunDirectoryError",
    "Sampler",
    "ScoreModel",
    "ScorekitError",
    "Solution",
    "SolveStats",
    "Solver",
    "SolverError",
    "Start",
    "TraceEstimator",
    "UserError",
    "__version__",
    "append_dims",
    "batch_sum",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load",
    "load_config",
    "load_registry",
    "odeint",
]

if TYPE_CHECKING:
    from scorekit._hookspecs import hookimpl, hookspec
    from scorekit._registry import (
        COMPONENT_KINDS,
        RegisterComponent,
        RegisterPreset,
        Registry,
        get_plugin_manager,
        load_registry,
    )
    from scorekit.config import RunConfig, load_config
    from scorekit.data.sources import DataSource
    from scorekit.engine.run import Run, load
    from scorekit.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        OutOfRangeError,
        PluginError,
        RunDirectoryError,
        ScorekitError,
        SolverError,
        UserError,
    )
    from scorekit.interfaces import (
        Likelihood,
        Loss,
        NoiseSchedule,
        Sampler,
        ScoreModel,
        Solution,
        Solver,
        SolveStats,
        Start,
        TraceEstimator,
    )
    from scorekit.ode import odeint
    from scorekit.tensors import append_dims, batch_sum


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scorekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
