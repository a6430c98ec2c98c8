"""Config text: TOML documents read and parsed with errors that name the file, and ``--set`` overrides
merged into them. Torch-free and registry-free; :mod:`scorekit.config` re-exports these functions.

Reads are bounded: a config must be a regular file (a FIFO would hang, ``/dev/zero`` never ends) of
at most :data:`~scorekit._io.MAX_CONFIG_BYTES`, and its tables and arrays may nest at most
:data:`MAX_NESTING` levels deep, which keeps the recursive merge and copy below (and the TOML parser
itself) far from Python's recursion limit.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from scorekit._io import MAX_CONFIG_BYTES, read_regular_bytes
from scorekit.errors import ConfigError

__all__ = ["MAX_NESTING", "apply_overrides", "merge_tables", "parse_toml", "read_toml_file"]

#: The most levels of tables and arrays a config may nest (``[a.b]`` with ``x = [[1]]`` nests 4).
MAX_NESTING = 32

_TOO_DEEP = f"tables and arrays nested more than {MAX_NESTING} levels deep (the most a config may nest)"


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether ``value`` nests more than ``levels`` levels of tables and arrays (a scalar nests 0).

    Iterative, and it stops at the first value too deep, so that no document can exhaust the stack here.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth == levels:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        document = tomllib.loads(text)
    except RecursionError:  # the parser recurses once per nested array or inline table
        raise ConfigError(f"{source}: {_TOO_DEEP}") from None
    except ValueError as exc:  # TOMLDecodeError, and an integer of more than 4300 digits
        # Python's advice on the digit limit names a setting of its own, not of the config.
        raise ConfigError(f"{source}: invalid TOML: {str(exc).partition('; use sys.')[0]}") from None
    # The document itself is a table, not counted: its sections are level 1.
    if _deeper_than(document, MAX_NESTING + 1):
        raise ConfigError(f"{source}: {_TOO_DEEP}")
    return document


def read_toml_file(path: Path) -> dict[str, Any]:
    """The parsed TOML file ``path``: a regular UTF-8 file of at most MAX_CONFIG_BYTES, nesting at most MAX_NESTING."""
    try:
        data = read_regular_bytes(path, what="config", error=ConfigError, max_bytes=MAX_CONFIG_BYTES)
        text = data.decode("utf-8-sig")  # a byte-order mark, as some editors write it, is not TOML's business
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    # Universal newlines, as Path.read_text gives them.
    return parse_toml(text.replace("\r\n", "\n").replace("\r", "\n"), str(path))


def _parse_value(text: str, item: str) -> Any:
    """A TOML value (``0.1``, ``[1, 2]``, ``true``, ``"a"``); anything else is a bare string."""
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except RecursionError:
        raise ConfigError(f"--set {_shown(item)}: {_TOO_DEEP}") from None
    except ValueError:  # TOMLDecodeError, and an integer of more than 4300 digits
        return text
    return value


def _shown(item: str, limit: int = 80) -> str:
    """``item`` quoted for a message, its middle elided when long."""
    return repr(item) if len(item) <= limit else f"{item[: limit // 2]!r}…{item[-limit // 4 :]!r}"


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
    written for ``eight_gaussians``. Like a file, an override may nest at most MAX_NESTING levels,
    its path's keys included.
    """
    if _deeper_than(raw, MAX_NESTING + 1):
        raise ConfigError(f"the config: {_TOO_DEEP}")
    result = copy.deepcopy(raw)
    for item in overrides:
        path, sep, text = item.partition("=")
        keys = [k.strip() for k in path.strip().split(".")]
        if not sep or not all(keys):
            raise ConfigError(f"--set expects path=value (e.g. train.steps=100), got {_shown(item)}")
        # a.b.c = value: two tables, then the value.
        if len(keys) - 1 > MAX_NESTING:
            raise ConfigError(f"--set {_shown(item)}: {_TOO_DEEP}")
        table = result
        for depth, key in enumerate(keys[:-1]):
            table = table.get(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {_shown(item)}: $.{'.'.join(keys[: depth + 1])} is not a table")
        patch = _parse_value(text.strip(), item)
        if _deeper_than(patch, MAX_NESTING - (len(keys) - 1)):
            raise ConfigError(f"--set {_shown(item)}: {_TOO_DEEP}")
        for key in reversed(keys):
            patch = {key: patch}
        result = merge_tables(result, patch)
    return result
