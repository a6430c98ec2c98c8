"""The component registry: pluggy plugins discovered through entry points, by kind and name.

Discovery reads the entry-point group ``scorekit``. Each plugin is loaded on its own so that one
broken plugin is reported by name while every other keeps working. Two switches, in the pytest
style, control discovery:

``SCOREKIT_DISABLE_PLUGIN_AUTOLOAD=1``
    load no third-party plugin; only the core's own built-ins.
``SCOREKIT_BLOCK_PLUGINS=dsm,foo``
    skip the named plugins (entry-point names).

Whatever a plugin raises while it is imported or its hooks run is that plugin's failure, recorded in
:attr:`Registry.failures`: ``SystemExit``, ``GeneratorExit`` and any other ``BaseException``
included, so that a plugin calling ``sys.exit()`` cannot end the command. The one exception is
``KeyboardInterrupt``: one raised by a plugin's code and a real Ctrl-C are indistinguishable, and a
user who presses Ctrl-C during discovery wants the program to stop, so it propagates (the CLI exits
130 with one line, ``error: interrupted``).

What plugins print to stdout while they are imported and registered goes to stderr, so that
machine-readable output (``scorekit config > run.toml``, ``scorekit plugins --json``) stays valid.

The core's plugin is collected first, whatever the discovery order: a plugin's preset named like a
core preset (``ncsn``) is refused and recorded as a failure; the core's is kept.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import attrs
import pluggy

from scorekit import _hookspecs
from scorekit.errors import ConfigError, PluginError, did_you_mean
from scorekit.kinds import KINDS

__all__ = [
    "COMPONENT_KINDS",
    "ComponentEntry",
    "PluginFailure",
    "PluginInfo",
    "Preset",
    "Registry",
    "get_plugin_manager",
    "load_registry",
    "plugin_output_to_stderr",
]

#: The registry kinds, from the one table of kinds (:data:`scorekit.kinds.KINDS`).
COMPONENT_KINDS: tuple[str, ...] = tuple(kind.name for kind in KINDS)

ENTRY_POINT_GROUP = "scorekit"
DISABLE_AUTOLOAD_ENV = "SCOREKIT_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_PLUGINS_ENV = "SCOREKIT_BLOCK_PLUGINS"
CORE_PLUGIN = "core"
#: The module the core's own entry point names: it wins over any other entry point named ``core``.
CORE_MODULE = "scorekit.builtins"


class RegisterComponent(Protocol):
    def __call__(
        self,
        kind: str,
        name: str,
        *,
        factory: Callable[[Any], Any] | str,
        config: type,
        summary: str = "",
    ) -> None: ...


class RegisterPreset(Protocol):
    def __call__(self, name: str, toml_text: str, *, summary: str = "") -> None: ...


class EntryPointLike(Protocol):
    """What discovery needs of an entry point; tests pass fakes with the same attributes."""

    name: str
    value: str

    @property
    def dist(self) -> Any: ...

    def load(self) -> Any: ...


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its entry-point name and the distribution that provides it."""

    name: str
    distribution: str
    version: str


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, and why."""

    plugin: str
    distribution: str
    error: str
    #: The formatted traceback when an exception caused the failure (``scorekit plugins --traceback``).
    traceback: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} ({self.distribution}): {self.error}"


@dataclass(frozen=True)
class ComponentEntry:
    """One registered component: the factory is resolved only when the component is built."""

    kind: str
    name: str
    factory: Callable[[Any], Any] | str
    config: type
    plugin: PluginInfo
    summary: str = ""
    #: The registry the entry was collected into: it resolves components nested in ``config``.
    registry: Registry | None = field(default=None, compare=False, repr=False)

    def build(self, config: Any = None) -> Any:
        """The component built from ``config`` (an instance of :attr:`config`; None: its defaults).

        Components nested in the config by name (a sampler's ``solver``) are looked up in the registry
        the entry came from, so ``entry.build(entry.config(...))`` works outside a run's TOML too.
        """
        if config is None:
            config = self.config()
        if self.registry is not None:
            from scorekit.config import resolve_nested  # config imports this module

            config = resolve_nested(config, f"$.{self.kind}", self.registry)
        factory = self.factory
        if isinstance(factory, str):
            module_name, _, attribute = factory.partition(":")
            try:
                factory = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"{self.kind} {self.name!r} of plugin {self.plugin.name!r} "
                    f"({self.plugin.distribution}) cannot be loaded: {exc}"
                ) from exc
        return factory(config)


@dataclass(frozen=True)
class Preset:
    name: str
    toml_text: str
    plugin: PluginInfo
    summary: str = ""


@dataclass
class Registry:
    """Everything the installed plugins provide, and everything that went wrong loading them."""

    plugins: list[PluginInfo] = field(default_factory=list)
    components: dict[tuple[str, str], ComponentEntry] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    # (kind, name) registered by more than one plugin: unusable until one is removed or blocked.
    conflicts: dict[tuple[str, str], list[PluginInfo]] = field(default_factory=dict)
    plugin_manager: pluggy.PluginManager | None = None

    def names(self, kind: str) -> list[str]:
        return sorted({n for (k, n) in self.components if k == kind} | {n for (k, n) in self.conflicts if k == kind})

    def components_of(self, plugin: str) -> dict[str, list[str]]:
        by_kind: dict[str, list[str]] = {}
        for entry in self.components.values():
            if entry.plugin.name == plugin:
                by_kind.setdefault(entry.kind, []).append(entry.name)
        return {kind: sorted(names) for kind, names in sorted(by_kind.items())}

    def get(self, kind: str, name: str) -> ComponentEntry:
        """The component ``name`` of ``kind``; a clear ConfigError if it is unknown or ambiguous."""
        if kind not in COMPONENT_KINDS:
            raise ConfigError(
                f"unknown component kind {kind!r}; expected one of {', '.join(COMPONENT_KINDS)}"
                + did_you_mean(kind, COMPONENT_KINDS)
            )
        if (kind, name) in self.conflicts:
            owners = " and ".join(f"{p.distribution} (plugin {p.name!r})" for p in self.conflicts[kind, name])
            raise PluginError(f"{kind} {name!r} is registered by both {owners}; uninstall or block one of them")
        try:
            return self.components[kind, name]
        except KeyError:
            available = ", ".join(self.names(kind)) or "none installed"
            hint = did_you_mean(name, self.names(kind)) + self._failure_hint()
            raise ConfigError(f"unknown {kind} {name!r} (available: {available}){hint}") from None

    def preset(self, name: str) -> Preset:
        try:
            return self.presets[name]
        except KeyError:
            available = ", ".join(sorted(self.presets)) or "none installed"
            hint = did_you_mean(name, self.presets) or "; pass a preset name or a .toml file"
            raise ConfigError(f"unknown preset {name!r} (available: {available}){hint}{self._failure_hint()}") from None

    def _failure_hint(self) -> str:
        if not self.failures:
            return ""
        return "; plugins that failed to load: " + ", ".join(f.plugin for f in self.failures)


def _format_traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))


def _describe(exc: BaseException) -> str:
    """``Type: message``, or the type alone for an exception without a message (``SystemExit()``)."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@contextlib.contextmanager
def plugin_output_to_stderr() -> Iterator[None]:
    """Send what plugin code prints to stdout to stderr while it runs (imports and hooks).

    Only Python-level writes through ``sys.stdout`` are redirected (``print``, ``click.echo``); a
    write to file descriptor 1 from C code, or to ``sys.__stdout__``, still reaches stdout: that is
    accepted. A plugin that keeps a reference to ``sys.stdout`` from import time keeps stderr.
    """
    target = sys.stderr if sys.stderr is not None else io.StringIO()
    with contextlib.redirect_stdout(target):
        yield


def get_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with scorekit's hook specifications and nothing registered."""
    pm = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
    pm.add_hookspecs(_hookspecs)
    return pm


def _distribution_of(ep: EntryPointLike) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution", ""
    name = getattr(dist, "name", None) or dist.metadata["Name"]
    return str(name), str(getattr(dist, "version", ""))


def _blocked_plugins() -> set[str]:
    return {name.strip() for name in os.environ.get(BLOCK_PLUGINS_ENV, "").split(",") if name.strip()}


def _discover(entry_points: Iterable[EntryPointLike] | None) -> list[EntryPointLike]:
    """The entry points in discovery order, except that the core's comes first.

    The core's plugin is then loaded and collected before any other, so its presets are kept when a
    plugin registers one of the same name, and an entry point of another distribution that is also
    named ``core`` is reported as a duplicate instead of displacing it.
    """
    found = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points)
    return sorted(found, key=lambda ep: (ep.name != CORE_PLUGIN, getattr(ep, "value", "") != CORE_MODULE))


def load_registry(entry_points: Iterable[EntryPointLike] | None = None) -> Registry:
    """Discover plugins and collect what they register.

    ``entry_points`` replaces discovery through installed distributions (tests drive the registry
    with a fake distribution set this way). The core's built-ins are an ordinary plugin named
    ``core``; they load even when autoload is disabled.

    A plugin that raises anything while it is imported or registered, ``SystemExit`` included, is
    recorded in :attr:`Registry.failures` and left out; ``KeyboardInterrupt`` propagates (see the
    module's docstring). What plugins print meanwhile goes to stderr.
    """
    with plugin_output_to_stderr():
        return _load_registry(entry_points)


def _load_registry(entry_points: Iterable[EntryPointLike] | None) -> Registry:
    registry = Registry(plugin_manager=get_plugin_manager())
    pm = registry.plugin_manager
    assert pm is not None
    autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")
    blocked = _blocked_plugins()
    seen: dict[str, str] = {}
    loaded: list[tuple[PluginInfo, Any]] = []

    for ep in _discover(entry_points):
        distribution, version = _distribution_of(ep)
        if ep.name in blocked or (not autoload and ep.name != CORE_PLUGIN):
            continue
        if ep.name in seen:
            registry.failures.append(
                PluginFailure(
                    ep.name,
                    distribution,
                    f"entry-point name {ep.name!r} is already used by {seen[ep.name]}; not loaded",
                )
            )
            continue
        seen[ep.name] = distribution
        try:
            module = ep.load()
        except KeyboardInterrupt:
            raise  # Ctrl-C (or a plugin that raises it: indistinguishable) stops discovery
        except BaseException as exc:  # a broken plugin must not take the others down; sys.exit() included
            registry.failures.append(
                PluginFailure(ep.name, distribution, f"import failed: {_describe(exc)}", _format_traceback(exc))
            )
            continue
        info = PluginInfo(ep.name, distribution, version)
        try:
            pm.register(module, name=ep.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # reading the module's attributes runs its code (__getattr__)
            registry.failures.append(PluginFailure(ep.name, distribution, f"invalid hooks: {exc}"))
            continue
        unknown = sorted(caller.name for caller in pm.get_hookcallers(module) or [] if caller.spec is None)
        if unknown:
            # pluggy accepts implementations of hooks nobody specified; a typo would register nothing.
            pm.unregister(module)
            registry.failures.append(
                PluginFailure(ep.name, distribution, f"implements unknown hook(s) {', '.join(unknown)} (misspelled?)")
            )
            continue
        loaded.append((info, module))

    for info, module in loaded:
        if _collect(registry, pm, info, module):
            registry.plugins.append(info)
    return registry


def _collect(registry: Registry, pm: pluggy.PluginManager, info: PluginInfo, module: Any) -> bool:
    """Call one plugin's registration hooks; on failure report it and keep nothing of it."""
    components: list[ComponentEntry] = []
    presets: list[Preset] = []

    def register_component(
        kind: str, name: str, *, factory: Callable[[Any], Any] | str, config: type, summary: str = ""
    ) -> None:
        if kind not in COMPONENT_KINDS:
            raise PluginError(f"registers unknown component kind {kind!r} (known: {', '.join(COMPONENT_KINDS)})")
        if not attrs.has(config):
            raise PluginError(f"{kind} {name!r}: config must be an attrs class, got {config!r}")
        components.append(ComponentEntry(kind, name, factory, config, info, summary, registry))

    def register_preset(name: str, toml_text: str, *, summary: str = "") -> None:
        presets.append(Preset(name, toml_text, info, summary))

    arguments: dict[str, dict[str, Callable[..., None]]] = {
        "scorekit_register_components": {"register": register_component},
        "scorekit_register_presets": {"register": register_preset},
    }
    for hook_name, kwargs in arguments.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not module:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit and GeneratorExit too: this plugin's failure
                registry.failures.append(
                    PluginFailure(
                        info.name,
                        info.distribution,
                        f"hook {hook_name} raised {_describe(exc)}",
                        _format_traceback(exc),
                    )
                )
                pm.unregister(module)
                return False

    for entry in components:
        key = (entry.kind, entry.name)
        if key in registry.conflicts:
            registry.conflicts[key].append(info)
        elif key in registry.components:
            first = registry.components.pop(key)
            registry.conflicts[key] = [first.plugin, info]
        else:
            registry.components[key] = entry
    for preset in presets:
        if preset.name in registry.presets:
            first_plugin = registry.presets[preset.name].plugin
            registry.failures.append(
                PluginFailure(
                    info.name,
                    info.distribution,
                    f"preset {preset.name!r} is already provided by {first_plugin.distribution}; kept that one",
                )
            )
            continue
        registry.presets[preset.name] = preset
    return True
