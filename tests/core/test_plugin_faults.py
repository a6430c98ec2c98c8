"""Broken plugins next to working ones: reported by name and distribution; the rest still trains."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import attrs
from click.testing import CliRunner

from scorekit import hookimpl
from scorekit._registry import load_registry
from scorekit.cli import cli
from tests.conftest import installed_entry_points, small_config, write_toml
from tests.core.test_registry import FakeEntryPoint


@attrs.frozen
class _Config:
    pass


def _hook_raises() -> types.ModuleType:
    module = types.ModuleType("raiser")

    @hookimpl
    def scorekit_register_components(register: Any) -> None:
        raise RuntimeError("database of losses unreachable")

    module.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    return module


def _steals_a_name() -> types.ModuleType:
    module = types.ModuleType("thief")

    @hookimpl
    def scorekit_register_components(register: Any) -> None:
        register("sampler", "langevin", factory=dict, config=_Config)

    module.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    return module


def test_broken_plugins_are_reported_and_the_rest_trains(tmp_path: Path) -> None:
    entry_points = [
        *installed_entry_points("core", "dsm", "annealed_langevin", "langevin"),
        FakeEntryPoint("importfails", ModuleNotFoundError("No module named 'cuda_magic'"), "scorekit-importfails"),
        FakeEntryPoint("raiser", _hook_raises(), "scorekit-raiser"),
        FakeEntryPoint("thief", _steals_a_name(), "scorekit-thief"),
    ]
    registry = load_registry(entry_points)
    runner = CliRunner()

    listing = runner.invoke(cli, ["plugins", "--json"], obj=registry)
    assert listing.exit_code == 0
    report = json.loads(listing.output)
    assert [row["plugin"] for row in report["plugins"]] == ["core", "dsm", "annealed_langevin", "langevin", "thief"]
    problems = "\n".join(report["problems"])
    assert "plugin 'importfails' (scorekit-importfails): import failed: ModuleNotFoundError" in problems
    assert "plugin 'raiser' (scorekit-raiser): hook scorekit_register_components raised RuntimeError" in problems
    assert "sampler 'langevin' registered by more than one plugin: langevin (scorekit-langevin), thief" in problems

    # The default NCSN config uses none of the broken or contested components: it trains.
    config = write_toml(tmp_path / "c.toml", small_config())
    result = runner.invoke(cli, ["train", str(config), "--run-dir", str(tmp_path / "run")], obj=registry)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "samples.png").exists()

    # A config that does use the contested name fails with a message naming both distributions.
    result = runner.invoke(
        cli,
        ["train", str(config), "--run-dir", str(tmp_path / "other"), "--set", "sampler.kind=langevin"],
        obj=registry,
    )
    assert result.exit_code != 0
    assert "scorekit-langevin" in str(result.exception) and "scorekit-thief" in str(result.exception)


def test_a_failed_plugin_shows_its_traceback_on_request_and_is_named_by_unknown_preset_errors() -> None:
    import pytest

    from scorekit.errors import ConfigError

    entry_points = [*installed_entry_points("core"), FakeEntryPoint("raiser", _hook_raises(), "scorekit-raiser")]
    registry = load_registry(entry_points)
    runner = CliRunner()
    plain = runner.invoke(cli, ["plugins"], obj=registry)
    assert plain.exit_code == 0 and "scorekit plugins --traceback shows where" in plain.output
    assert "Traceback" not in plain.output
    detailed = runner.invoke(cli, ["plugins", "--traceback"], obj=registry)
    assert detailed.exit_code == 0
    assert "traceback of plugin 'raiser' (scorekit-raiser):" in detailed.output
    assert "Traceback (most recent call last)" in detailed.output
    assert "RuntimeError: database of losses unreachable" in detailed.output
    # A preset that a broken plugin might have provided: the error says which plugins failed.
    with pytest.raises(ConfigError, match=r"unknown preset 'edm'.*plugins that failed to load: raiser"):
        registry.preset("edm")
