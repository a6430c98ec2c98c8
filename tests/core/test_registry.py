"""The plugin registry: discovery, failures, collisions, switches, and a fake distribution set."""

from __future__ import annotations

import json
import types
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from scorekit import hookimpl
from scorekit._registry import COMPONENT_KINDS, get_plugin_manager, load_registry
from scorekit.cli import cli
from scorekit.errors import ConfigError, PluginError
from tests.conftest import installed_entry_points


@attrs.frozen
class _Config:
    value: int = 1


class FakeDist:
    def __init__(self, name: str, version: str = "9.9") -> None:
        self.name = name
        self.version = version
        self.metadata = {"Name": name}


class FakeEntryPoint:
    """What discovery reads of an entry point: name, value, dist, load()."""

    def __init__(self, name: str, module: Any, dist: str) -> None:
        self.name = name
        self.value = f"{name}.hooks"
        self.dist = FakeDist(dist)
        self._module = module

    def load(self) -> Any:
        if isinstance(self._module, BaseException):  # SystemExit, KeyboardInterrupt too
            raise self._module
        return self._module


def plugin_module(name: str, *components: tuple[str, str], raises: BaseException | None = None) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def scorekit_register_components(register: Any) -> None:
        for kind, component in components:
            register(kind, component, factory=lambda config: ("built", config), config=_Config)
        if raises is not None:
            raise raises

    module.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    return module


def test_fresh_plugin_manager_has_specs_and_no_plugins() -> None:
    pm = get_plugin_manager()
    assert pm.get_plugins() == set()
    assert {"scorekit_register_components", "scorekit_register_presets", "scorekit_register_commands"} <= {
        name for name in dir(pm.hook) if name.startswith("scorekit_")
    }
    assert get_plugin_manager() is not pm


def test_components_are_registered_with_their_distribution() -> None:
    registry = load_registry([FakeEntryPoint("a", plugin_module("a", ("loss", "l1"), ("sampler", "s1")), "dist-a")])
    entry = registry.get("loss", "l1")
    assert (entry.plugin.name, entry.plugin.distribution, entry.plugin.version) == ("a", "dist-a", "9.9")
    assert entry.build(_Config(3)) == ("built", _Config(3))
    assert registry.components_of("a") == {"loss": ["l1"], "sampler": ["s1"]}


def test_same_component_name_from_two_plugins_names_both_distributions() -> None:
    registry = load_registry(
        [
            FakeEntryPoint("a", plugin_module("a", ("loss", "shared"), ("loss", "only_a")), "dist-a"),
            FakeEntryPoint("b", plugin_module("b", ("loss", "shared")), "dist-b"),
        ]
    )
    with pytest.raises(PluginError, match=r"dist-a.*and dist-b"):
        registry.get("loss", "shared")
    assert registry.get("loss", "only_a").plugin.name == "a"


def test_same_entry_point_name_in_two_distributions_is_reported() -> None:
    registry = load_registry(
        [
            FakeEntryPoint("x", plugin_module("x1", ("loss", "l1")), "dist-1"),
            FakeEntryPoint("x", plugin_module("x2", ("loss", "l2")), "dist-2"),
        ]
    )
    assert [p.distribution for p in registry.plugins] == ["dist-1"]
    (failure,) = registry.failures
    assert failure.distribution == "dist-2" and "dist-1" in failure.error


def test_plugin_that_fails_to_import_is_reported_and_others_work() -> None:
    registry = load_registry(
        [
            FakeEntryPoint("broken", ImportError("No module named 'missing_dep'"), "dist-broken"),
            FakeEntryPoint("good", plugin_module("good", ("loss", "l1")), "dist-good"),
        ]
    )
    (failure,) = registry.failures
    assert (failure.plugin, failure.distribution) == ("broken", "dist-broken")
    assert "missing_dep" in failure.error
    assert registry.get("loss", "l1").plugin.name == "good"
    with pytest.raises(ConfigError, match="failed to load: broken"):
        registry.get("loss", "nope")


def test_plugin_whose_hook_raises_is_dropped_whole() -> None:
    registry = load_registry(
        [
            FakeEntryPoint("bad", plugin_module("bad", ("loss", "half"), raises=RuntimeError("boom")), "dist-bad"),
            FakeEntryPoint("good", plugin_module("good", ("loss", "l1")), "dist-good"),
        ]
    )
    assert "boom" in registry.failures[0].error and registry.failures[0].plugin == "bad"
    assert ("loss", "half") not in registry.components
    assert [p.name for p in registry.plugins] == ["good"]


def test_unknown_kind_and_non_attrs_config_are_plugin_errors() -> None:
    module = types.ModuleType("odd")

    @hookimpl
    def scorekit_register_components(register: Any) -> None:
        register("widget", "w", factory=dict, config=_Config)

    module.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    registry = load_registry([FakeEntryPoint("odd", module, "dist-odd")])
    assert "unknown component kind 'widget'" in registry.failures[0].error


def test_misspelled_hook_is_reported() -> None:
    module = types.ModuleType("typo")

    @hookimpl
    def scorekit_register_component(register: Any) -> None:  # the spec's name ends in "components"
        register("loss", "never", factory=dict, config=_Config)

    module.scorekit_register_component = scorekit_register_component  # type: ignore[attr-defined]
    registry = load_registry([FakeEntryPoint("typo", module, "dist-typo")])
    assert registry.plugins == []
    assert "unknown hook(s) scorekit_register_component" in registry.failures[0].error


def test_block_and_disable_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        FakeEntryPoint("core", plugin_module("core", ("dataset", "d")), "scorekit-core"),
        FakeEntryPoint("a", plugin_module("a", ("loss", "la")), "dist-a"),
        FakeEntryPoint("b", plugin_module("b", ("loss", "lb")), "dist-b"),
    ]
    monkeypatch.setenv("SCOREKIT_BLOCK_PLUGINS", "a, nothing")
    assert [p.name for p in load_registry(eps).plugins] == ["core", "b"]
    monkeypatch.delenv("SCOREKIT_BLOCK_PLUGINS")
    monkeypatch.setenv("SCOREKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert [p.name for p in load_registry(eps).plugins] == ["core"]


def test_unknown_component_lists_what_is_available() -> None:
    registry = load_registry([FakeEntryPoint("a", plugin_module("a", ("loss", "l1"), ("loss", "l2")), "dist-a")])
    with pytest.raises(ConfigError, match=r"unknown loss 'l3' \(available: l1, l2\)"):
        registry.get("loss", "l3")
    assert set(COMPONENT_KINDS) >= {"loss", "sampler", "solver", "trace_estimator"}


def test_only_installed_plugins_are_listed() -> None:
    """Core + one plugin, as after `pip install scorekit[dsm]`: the real entry points, others absent."""
    registry = load_registry(installed_entry_points("core", "dsm"))
    result = CliRunner().invoke(cli, ["plugins", "--json"], obj=registry)
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [row["plugin"] for row in listed["plugins"]] == ["core", "dsm"]
    assert listed["plugins"][1]["distribution"] == "scorekit-dsm"
    assert listed["plugins"][1]["components"] == {"loss": ["dsm", "ncsn"], "schedule": ["geometric", "sigmas"]}
    assert listed["problems"] == []
    with pytest.raises(ConfigError, match="unknown sampler 'annealed_langevin'"):
        registry.get("sampler", "annealed_langevin")


def test_plugin_commands_are_added(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from scorekit import cli as cli_module

    module = types.ModuleType("cmds")

    @hookimpl
    def scorekit_register_commands(cli: click.Group) -> None:
        @cli.command(name="hello-plugin")
        def hello() -> None:
            click.echo("hello from a plugin")

    module.scorekit_register_commands = scorekit_register_commands  # type: ignore[attr-defined]
    registry = load_registry([FakeEntryPoint("cmds", module, "dist-cmds")])
    group = click.Group(commands=dict(cli_module.cli.commands))
    cli_module._add_plugin_commands(group, registry)
    result = CliRunner().invoke(group, ["hello-plugin"], obj=registry)
    assert result.output.strip() == "hello from a plugin"


def test_one_table_of_kinds_drives_the_registry_the_config_and_the_interface_checks() -> None:
    from scorekit import COMPONENT_KINDS
    from scorekit.config import COMPONENT_SECTIONS
    from scorekit.kinds import KINDS, interface_of

    assert tuple(kind.name for kind in KINDS) == COMPONENT_KINDS
    assert {k.section: (k.name, k.required) for k in KINDS if k.section is not None} == COMPONENT_SECTIONS
    assert list(COMPONENT_SECTIONS) == ["data", "model", "schedule", "loss", "sampler", "likelihood"]
    for kind in KINDS:
        interface = interface_of(kind.name)
        assert (interface is None) == (kind.interface is None), kind.name
        if interface is not None:
            assert interface.__name__ == kind.interface.rpartition(":")[2]  # type: ignore[union-attr]
    assert interface_of("no_such_kind") is None
