"""Error types: one per kind of user mistake, and one for runtime failures."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "CheckpointError",
    "ComponentError",
    "ConfigError",
    "DataError",
    "OutOfRangeError",
    "PluginError",
    "RunDirectoryError",
    "ScorekitError",
    "SolverError",
    "UserError",
    "closest",
    "did_you_mean",
]


class ScorekitError(Exception):
    """Base of every error scorekit raises on purpose."""


class UserError(ScorekitError):
    """A mistake in the user's input: the runner exits 2 with the message and no traceback."""


class ConfigError(UserError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


class DataError(UserError):
    """A data file or data set cannot be used: missing, malformed, wrong shape, non-finite."""


class RunDirectoryError(UserError):
    """A run directory that cannot be used as asked: ``reason`` is "exists" (it holds a run already),
    "nothing_to_resume", "not_a_directory" or "locked" (another process is training in it; ``holder``
    its PID); ``run_dir`` the path. Front ends phrase it for their own switches (the CLI: ``--resume``,
    ``--run-dir``)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "exists": "{run_dir} already holds checkpoints; resume it (train(resume=True)) or choose another run directory",
        "nothing_to_resume": "{run_dir} holds no checkpoint to resume from",
        "not_a_directory": "{run_dir} exists and is not a directory",
        "locked": "another process (PID {holder}) is training in {run_dir}; wait for it to finish or choose "
        "another run directory",
    }

    def __init__(self, run_dir: object, reason: str, *, holder: str = "") -> None:
        self.run_dir, self.reason, self.holder = run_dir, reason, holder
        super().__init__(self.MESSAGES[reason].format(run_dir=run_dir, holder=holder))


class OutOfRangeError(UserError):
    """An argument outside the range the run supports: ``name``, ``value`` and the range ``low``–``high``."""

    def __init__(self, name: str, value: float, low: float, high: float, what: str = "the trained range") -> None:
        self.name, self.value, self.low, self.high = name, value, low, high
        super().__init__(f"{name} must lie in {what} [{low:.6g}, {high:.6g}], got {value}")


class PluginError(ScorekitError):
    """A plugin failed to load or registered something inconsistent."""


class ComponentError(PluginError):
    """A component (a model, loss, sampler or likelihood, often a plugin's) broke its interface's contract at
    run time: it raised, or returned something of the wrong type, shape or dtype. The message names it."""


class CheckpointError(ScorekitError):
    """A checkpoint is missing, truncated, or not a scorekit checkpoint."""


class SolverError(ScorekitError):
    """An ODE/SDE solve failed: too many steps, a step size below the minimum, a non-finite state."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelled ``name`` by difflib's ratio, if it is at least 0.65.

    One letter wrong in three ('dms' for 'dsm') is close; 'extra' and 'train', three letters shared
    in five, are not.
    """
    close = difflib.get_close_matches(name, list(choices), 1, 0.65)
    return close[0] if close else None


def did_you_mean(names: str | Iterable[str], choices: Iterable[str]) -> str:
    """A hint for misspelled ``names``: ``"; did you mean 'steps'?"``, or ``""`` if nothing is :func:`closest`.

    Several names are answered one by one: ``"; did you mean 'hidden' for 'hiden', 'layers' for 'layrs'?"``.
    """
    names = [names] if isinstance(names, str) else list(names)
    choices = list(choices)
    found = {name: match for name in names if (match := closest(name, choices)) is not None}
    if not found:
        return ""
    if len(names) == 1:
        return f"; did you mean {found[names[0]]!r}?"
    return "; did you mean " + ", ".join(f"{match!r} for {name!r}" for name, match in found.items()) + "?"
