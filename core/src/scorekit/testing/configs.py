"""Conformance check of a component's config: structure, dump, structure again, build."""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w

from scorekit.config import COMPONENT_SECTIONS, dump_component, interface_of, structure_as
from scorekit.errors import ConfigError
from scorekit.testing._common import (
    _require,
)


def check_config_round_trip(registry: Any, kind: str, name: str, raw_options: dict[str, Any] | None = None) -> Any:
    """Structure, dump and restructure a component's options; returns the component it builds.

    The options (a section without ``kind``) are structured against ``registry`` into the
    component's attrs config class, as a run config's section is (errors carry a path such as
    ``@ $.loss``); dumped the way a run's config.toml is written, through TOML text and back;
    structured again, which must give an equal config whose dump is the same. ``build()`` must
    give an instance of the interface of ``kind``.

    Example::

        loss = check_config_round_trip(registry, "loss", "ssm", {"projections": 2})
    """
    path = "$." + next((s for s, (k, _) in COMPONENT_SECTIONS.items() if k == kind), kind)
    label = f"{kind} {name!r}"
    entry = registry.get(kind, name)
    component = structure_as({**(raw_options or {}), "kind": name}, kind, path, registry)
    _require(isinstance(component.config, entry.config), label, f"structured into {type(component.config).__name__}")
    dumped = dump_component(component)
    _require(dumped.get("kind") == name, label, f"dumped without its kind: {dumped}")
    reread = tomllib.loads(tomli_w.dumps({"section": dumped}))["section"]
    again = structure_as(reread, kind, path, registry)
    _require(again == component, label, f"changed in a round trip: {component.config!r} became {again.config!r}")
    _require(dump_component(again) == dumped, label, "dumped differently after a round trip")
    try:
        built = component.build()
    except ConfigError as exc:
        raise AssertionError(f"{label}: {exc}") from None
    interface = interface_of(kind)
    _require(interface is None or isinstance(built, interface), label, f"built a {type(built).__name__}")
    return built
