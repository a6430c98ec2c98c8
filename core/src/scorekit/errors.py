"""Error types: one per kind of user mistake, and one for runtime failures."""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "DataError", "PluginError", "ScorekitError", "SolverError", "UserError"]


class ScorekitError(Exception):
    """Base of every error scorekit raises on purpose."""


class UserError(ScorekitError):
    """A mistake in the user's input: the runner exits 2 with the message and no traceback."""


class ConfigError(UserError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


class DataError(UserError):
    """A data file or data set cannot be used: missing, malformed, wrong shape, non-finite."""


class PluginError(ScorekitError):
    """A plugin failed to load or registered something inconsistent."""


class CheckpointError(ScorekitError):
    """A checkpoint is missing, truncated, or not a scorekit checkpoint."""


class SolverError(ScorekitError):
    """An ODE/SDE solve failed: too many steps, a step size below the minimum, a non-finite state."""
