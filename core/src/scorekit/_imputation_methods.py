"""The imputation methods' names, torch-free so that ``scorekit --help`` can list them (see scorekit.imputation)."""

from __future__ import annotations

#: The imputation methods, in the order docs/controllable.md compares them.
METHODS = ("replace", "guidance", "annealed")
