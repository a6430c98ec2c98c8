"""Config text: TOML documents read and parsed with errors that name the file, and ``--set`` overrides
merged into them. Torch-free and registry-free; :mod:`scorekit.config` re-exports these functions."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from scorekit.errors import ConfigError

__all__ = ["apply_overrides", "merge_tables", "parse_toml", "read_toml_file"]


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None


def read_toml_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_toml(text, str(path))


def _parse_value(text: str) -> Any:
    """A TOML value (``0.1``, ``[1, 2]``, ``true``, ``"a"``); anything else is a bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged over ``base``: a file over the config it extends, a ``--set`` over a file.

    Tables merge key by key, recursively; any other value replaces the base's. A table whose
    ``kind`` differs from the base table's (a component section or a nested component) replaces it
    whole, since the old component's options mean nothing to the new one.
    """
    if "kind" in over and over["kind"] != base.get("kind"):
        return copy.deepcopy(over)
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        merged[key] = merge_tables(below, value) if isinstance(value, dict) and isinstance(below, dict) else value
    return copy.deepcopy(merged)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set path=value`` overrides (``train.steps=100``) to a parsed document.

    Each is merged like a one-key file with :func:`merge_tables`, so setting a component's ``kind``
    to another component starts its table afresh: ``--set data.kind=two_moons`` works on a config
    written for ``eight_gaussians``.
    """
    result = copy.deepcopy(raw)
    for item in overrides:
        path, sep, text = item.partition("=")
        keys = [k.strip() for k in path.strip().split(".")]
        if not sep or not all(keys):
            raise ConfigError(f"--set expects path=value (e.g. train.steps=100), got {item!r}")
        table = result
        for depth, key in enumerate(keys[:-1]):
            table = table.get(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {item!r}: $.{'.'.join(keys[: depth + 1])} is not a table")
        patch = _parse_value(text.strip())
        for key in reversed(keys):
            patch = {key: patch}
        result = merge_tables(result, patch)
    return result
