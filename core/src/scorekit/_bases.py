"""Configs that extend another: a file's top-level ``base`` names the preset or file it changes.

::

    base = "ncsn"              # a preset, or a path to a .toml file relative to this file
    [data]
    kind = "file"
    path = "points.npy"
    [train]
    steps = 2000

The file's tables are merged over its base's by :func:`scorekit.config.merge_tables` (key by key;
a component whose ``kind`` changes starts afresh); a base may have a base of its own. A file
without ``base`` that lacks a required section extends the default preset and says so; a file
complete on its own is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorekit.config import COMPONENT_SECTIONS, merge_tables, parse_toml, read_toml_file
from scorekit.errors import ConfigError, closest

if TYPE_CHECKING:
    from scorekit._registry import Registry

__all__ = ["BASE_KEY", "MAX_BASES", "names_file", "read_document"]

BASE_KEY = "base"
#: A longer chain of bases is a mistake, not a design.
MAX_BASES = 16


def names_file(name: str, directory: Path | None = None) -> bool:
    """Whether ``name`` is a TOML file rather than a preset: it ends in .toml or is an existing file."""
    return name.endswith(".toml") or (directory or Path()).joinpath(name).is_file()


def read_document(
    name: str, registry: Registry, *, default: str, note: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The parsed document of preset or file ``name`` with its bases merged in; no ``base`` key is left.

    ``default`` is the preset that a file lacking a required section extends; ``note`` receives the
    one-line message that says so.
    """
    return _read(name, registry, default, note, Path(), ())


def _read(
    name: str,
    registry: Registry,
    default: str,
    note: Callable[[str], None] | None,
    directory: Path | None,
    chain: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    """``directory``: where a file ``name`` lies (None: ``name`` is the base of a preset, so a preset)."""
    named_by = chain[-1][1] if chain else None
    path = directory / name if directory is not None and names_file(name, directory) else None
    if path is not None:
        try:
            identity, label = str(path.resolve()), str(path)
        except (RuntimeError, OSError):  # a symlink loop (Python 3.11 raises RuntimeError for it)
            raise ConfigError(f"{path}: a symbolic link loop, not a file") from None
        if named_by is not None and not path.exists():
            # Stems are compared: every name ends in .toml, which would make all of them look close.
            stem = Path(name).stem
            siblings = {p.stem: str(Path(name).with_name(p.name)) for p in path.parent.glob("*.toml")}
            sibling = closest(stem, siblings)
            hint = f"; did you mean {siblings[sibling]!r}?" if sibling is not None else ""
            if stem in registry.presets:
                hint = f"; did you mean the preset {stem!r}?"
            raise ConfigError(f"{named_by}: base file {path} does not exist{hint} @ $.{BASE_KEY}")
        raw = read_toml_file(path)
    else:
        identity = label = f"preset {name!r}"
        try:
            preset = registry.preset(name)
        except ConfigError as exc:
            raise (ConfigError(f"{named_by}: {exc} @ $.{BASE_KEY}") if named_by else exc) from None
        raw = parse_toml(preset.toml_text, label)
    chain = (*chain, (identity, label))
    if identity in (seen for seen, _ in chain[:-1]):
        raise ConfigError(f"{named_by}: bases form a cycle: {' → '.join(shown for _, shown in chain)} @ $.{BASE_KEY}")
    if len(chain) > MAX_BASES + 1:
        raise ConfigError(f"{chain[0][1]}: more than {MAX_BASES} bases in a chain ({chain[1][1]} → …) @ $.{BASE_KEY}")
    base = raw.pop(BASE_KEY, None)
    if base is None:
        missing = [f"[{s}]" for s, (_, required) in COMPONENT_SECTIONS.items() if required and s not in raw]
        if path is None or not missing:
            return raw
        if note is not None:
            note(
                f"{label} has no {', '.join(missing)}: extending the default preset {default!r} "
                f'(write base = "{default}" to make this explicit)'
            )
        base = default
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{label}: base must be a preset name or a .toml file, got {base!r} @ $.{BASE_KEY}")
    below = _read(base, registry, default, note, path.parent if path is not None else None, chain)
    return merge_tables(below, raw)
