"""Broken plugins next to working ones: reported by name and distribution; the rest still trains."""

from __future__ import annotations

import functools
import importlib
import json
import sys
import textwrap
import tomllib
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from scorekit import hookimpl
from scorekit._registry import load_registry
from scorekit.cli import _add_plugin_commands, cli, main
from tests.conftest import installed_entry_points, small_config, write_toml
from tests.core.test_registry import FakeDist, FakeEntryPoint, plugin_module

cli_package = sys.modules["scorekit.cli"]


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


# --- A plugin cannot take the CLI down (BaseException, collisions, stdout) ----------------------------
#
# These run `scorekit.cli.main` in-process with a fake installation: the core and the components of
# its default preset, plus the plugins a test adds. A plugin's entry module is real source written
# to tmp_path and imported afresh on every discovery, so module-level code (a `sys.exit()`, a
# `print`) runs each time the command runs, as it would in a new process.

_CORE_SET = ("core", "dsm", "annealed_langevin", "langevin")


class _SourceEntryPoint:
    """An installed plugin whose entry module is the given source, imported anew on each load."""

    def __init__(self, root: Path, name: str, source: str) -> None:
        self.name = name
        self.value = f"_scorekit_fault_{name}"
        self.dist = FakeDist(f"scorekit-{name}")
        (root / f"{self.value}.py").write_text(textwrap.dedent(source))

    def load(self) -> Any:
        importlib.invalidate_caches()
        sys.modules.pop(self.value, None)
        return importlib.import_module(self.value)


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``install((name, source), ...)``: what `scorekit` discovers is the core set plus these plugins.

    The plugins come *before* the core in discovery order, as installed distributions may.
    """
    monkeypatch.delenv("SCOREKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("SCOREKIT_BLOCK_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def installer(*plugins: tuple[str, str]) -> None:
        extra = [_SourceEntryPoint(tmp_path, name, source) for name, source in plugins]
        names.extend(ep.value for ep in extra)
        entry_points = [*extra, *installed_entry_points(*_CORE_SET)]
        monkeypatch.setattr(cli_package, "load_registry", functools.partial(load_registry, entry_points))

    yield installer
    for name in names:
        sys.modules.pop(name, None)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)``'s exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else code if isinstance(code, int) else 1), out, err


@pytest.fixture
def core_config(install: Callable[..., None], capsys: pytest.CaptureFixture[str]) -> str:
    """`scorekit config ncsn` with no extra plugin: what every scenario must still print."""
    install()
    code, out, err = _run(["config", "ncsn"], capsys)
    assert (code, err) == (0, "")
    assert tomllib.loads(out)["model"]["kind"] == "ncsn_mlp"
    return out


def _problems(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    """`scorekit plugins --json`: its problems (stdout must be valid JSON) and its stderr."""
    code, out, err = _run(["plugins", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert {"core", "dsm"} <= {row["plugin"] for row in report["plugins"]}
    return report["problems"], err


def _hook_source(hook: str, body: str) -> str:
    argument = "cli" if hook == "scorekit_register_commands" else "register"
    return f"from scorekit import hookimpl\n\n@hookimpl\ndef {hook}({argument}):\n    {body}\n"


_HOOKS = ("scorekit_register_components", "scorekit_register_presets", "scorekit_register_commands")


def test_a_plugin_exiting_at_import_is_its_failure_and_every_command_still_works(
    install: Callable[..., None], core_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    install(("quitter", "import sys\nsys.exit(3)\n"))

    code, out, err = _run(["config", "ncsn"], capsys)
    assert (code, out, err) == (0, core_config, "")

    code, out, err = _run(["--help"], capsys)
    assert (code, err) == (0, "")
    assert "Usage: scorekit" in out and "train" in out and "Presets" in out

    problems, err = _problems(capsys)
    assert problems == ["plugin 'quitter' (scorekit-quitter): import failed: SystemExit: 3"]
    assert err == ""

    code, out, err = _run(["plugins", "--traceback"], capsys)
    assert code == 0 and "core  (scorekit-core" in out
    assert "problem: plugin 'quitter' (scorekit-quitter): import failed: SystemExit: 3" in err
    assert "traceback of plugin 'quitter' (scorekit-quitter):" in err and "sys.exit(3)" in err


@pytest.mark.parametrize("hook", _HOOKS)
@pytest.mark.parametrize("raised", ["SystemExit(4)", "GeneratorExit()"])
def test_a_hook_raising_a_base_exception_is_that_plugins_failure(
    hook: str, raised: str, install: Callable[..., None], core_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    install(("quitter", _hook_source(hook, f"raise {raised}")))
    described = raised.rstrip("()").replace("(", ": ")  # "SystemExit: 4", "GeneratorExit"
    # Failures of the registration hooks are silent until `scorekit plugins`; the commands hook runs
    # on every command and says so in one warning line.
    warning = f"warning: plugin 'quitter' failed to add commands: {described}\n" if hook == _HOOKS[2] else ""

    code, out, err = _run(["config", "ncsn"], capsys)
    assert (code, out, err) == (0, core_config, warning)

    code, out, err = _run(["--help"], capsys)
    assert (code, err) == (0, warning) and "Usage: scorekit" in out

    problems, err = _problems(capsys)
    assert problems == [f"plugin 'quitter' (scorekit-quitter): hook {hook} raised {described}"]
    assert err == warning and "Traceback" not in err


@pytest.mark.parametrize(
    "source",
    [
        "raise KeyboardInterrupt\n",
        _hook_source("scorekit_register_components", "raise KeyboardInterrupt"),
        _hook_source("scorekit_register_commands", "raise KeyboardInterrupt"),
    ],
    ids=["import", "components-hook", "commands-hook"],
)
def test_ctrl_c_during_discovery_exits_130_with_one_line(
    source: str, install: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt during discovery stops the command, whether Ctrl-C or a plugin raised it."""
    install(("interrupter", source))
    stdout = sys.stdout
    for argv in (["config", "ncsn"], ["--help"], ["plugins", "--json"]):
        code, out, err = _run(argv, capsys)
        assert (code, out, err) == (130, "", "error: interrupted\n")
    assert sys.stdout is stdout  # the redirection of plugin output is undone


def test_a_plugin_preset_cannot_replace_the_cores(
    install: Callable[..., None], core_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        from scorekit import hookimpl

        @hookimpl
        def scorekit_register_presets(register):
            register("ncsn", '[data]\\nkind = "two_moons"\\n', summary="not the core's")
            register("moons", '[data]\\nkind = "two_moons"\\n', summary="the plugin's own")
    """
    install(("impostor", source))  # discovered before the core

    for argv in (["config", "ncsn"], ["config"]):
        code, out, err = _run(argv, capsys)
        assert (code, out, err) == (0, core_config, "")

    problems, err = _problems(capsys)
    assert problems == [
        "plugin 'impostor' (scorekit-impostor): preset 'ncsn' is already provided by scorekit-core; kept that one"
    ]
    assert err == ""
    code, out, err = _run(["plugins"], capsys)
    assert code == 0 and "impostor  (scorekit-impostor 9.9)\n  preset: moons\n" in out
    assert err.splitlines() == [
        "problem: plugin 'impostor' (scorekit-impostor): preset 'ncsn' is already provided by scorekit-core; "
        "kept that one"
    ]


_TRAIN_AND_HELLO = """
    import click

    from scorekit import hookimpl

    @hookimpl
    def scorekit_register_commands(cli):
        @cli.command(name="train")
        def train():
            click.echo("the plugin's train")

        @cli.command(name="hello")
        def hello():
            click.echo("hello from a plugin")
"""


def test_a_plugin_command_cannot_replace_a_core_command(
    install: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    install(("trainer", _TRAIN_AND_HELLO))
    warning = "warning: plugin 'trainer' tried to add command 'train', which is already taken; kept the existing one\n"

    code, out, err = _run(["train", "--help"], capsys)
    assert (code, err) == (0, warning)
    assert "Usage: scorekit train" in out and "--run-dir" in out and "the plugin's train" not in out

    code, out, err = _run(["hello"], capsys)  # the plugin's other command is added
    assert (code, out, err) == (0, "hello from a plugin\n", warning)

    problems, err = _problems(capsys)
    assert problems == [
        "plugin 'trainer' (scorekit-trainer): tried to add command 'train', which is already taken; "
        "kept the existing one"
    ]
    assert err == warning
    # The plugins' commands go on a copy of the group: the core's `cli` is left as it was.
    assert "hello" not in cli.commands and cli.commands["train"].callback is not None
    assert "the plugin's" not in (cli.commands["train"].help or "")


def test_commands_cannot_be_replaced_or_removed_by_any_route_and_a_failed_hook_adds_nothing() -> None:
    import click

    def commands_module(name: str, body: Callable[[click.Group], None]) -> types.ModuleType:
        module = types.ModuleType(name)

        @hookimpl
        def scorekit_register_commands(cli: click.Group) -> None:
            body(cli)

        module.scorekit_register_commands = scorekit_register_commands  # type: ignore[attr-defined]
        return module

    ours = click.Command("mine", callback=lambda: None)

    def adds_mine(cli: click.Group) -> None:
        cli.add_command(ours)

    def takes_over(cli: click.Group) -> None:
        cli.add_command(click.Command("eval"))  # a core command
        cli.commands["mine"] = click.Command("mine")  # another plugin's, by the dict
        del cli.commands["sample"]
        cli.add_command(click.Command("fresh"))

    def half_then_exit(cli: click.Group) -> None:
        cli.add_command(click.Command("half"))
        cli.add_command(click.Command("config"))
        raise SystemExit(0)

    registry = load_registry(
        [
            FakeEntryPoint("first", commands_module("first", adds_mine), "dist-first"),
            FakeEntryPoint("second", commands_module("second", takes_over), "dist-second"),
            FakeEntryPoint("third", commands_module("third", half_then_exit), "dist-third"),
        ]
    )
    group = click.Group(commands=dict(cli.commands))
    _add_plugin_commands(group, registry)
    assert set(group.commands) == {*cli.commands, "mine", "fresh"}
    assert all(group.commands[name] is command for name, command in cli.commands.items())
    assert group.commands["mine"] is ours
    assert [(f.plugin, f.error) for f in registry.failures] == [
        ("second", "tried to add commands 'eval', 'mine', 'sample', which are already taken; kept the existing ones"),
        ("third", "hook scorekit_register_commands raised SystemExit: 0"),
    ]
    assert "raise SystemExit(0)" in registry.failures[1].traceback


def test_plugin_output_at_import_and_in_hooks_goes_to_stderr(
    install: Callable[..., None], core_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        import click

        from scorekit import hookimpl

        print("chatty: imported")

        @hookimpl
        def scorekit_register_components(register):
            print("chatty: components")

        @hookimpl
        def scorekit_register_presets(register):
            click.echo("chatty: presets")

        @hookimpl
        def scorekit_register_commands(cli):
            print("chatty: commands")
    """
    install(("chatty", source))
    printed = "chatty: imported\nchatty: components\nchatty: presets\nchatty: commands\n"

    code, out, err = _run(["config", "ncsn"], capsys)  # `scorekit config ncsn > run.toml` stays valid
    assert (code, out, err) == (0, core_config, printed)
    tomllib.loads(out)

    problems, err = _problems(capsys)  # stdout parsed as JSON there
    assert (problems, err) == ([], printed)


def test_base_exceptions_of_plugins_are_failures_and_ctrl_c_propagates_from_load_registry() -> None:
    good = FakeEntryPoint("good", plugin_module("good", ("loss", "l1")), "dist-good")
    registry = load_registry(
        [
            FakeEntryPoint("exits", SystemExit("bye"), "dist-exits"),
            FakeEntryPoint("genexit", GeneratorExit(), "dist-genexit"),
            FakeEntryPoint("hookexit", plugin_module("hookexit", ("loss", "l2"), raises=SystemExit(2)), "dist-h"),
            good,
        ]
    )
    assert [f.error for f in registry.failures] == [
        "import failed: SystemExit: bye",
        "import failed: GeneratorExit",
        "hook scorekit_register_components raised SystemExit: 2",
    ]
    assert all("Traceback" in f.traceback for f in registry.failures)
    assert [p.name for p in registry.plugins] == ["good"] and ("loss", "l2") not in registry.components

    stdout = sys.stdout
    with pytest.raises(KeyboardInterrupt):
        load_registry([good, FakeEntryPoint("ctrl_c", KeyboardInterrupt(), "dist-ctrl-c")])
    assert sys.stdout is stdout


def test_the_core_is_collected_first_and_keeps_its_entry_point_name() -> None:
    core = next(iter(installed_entry_points("core")))
    impostor = FakeEntryPoint("core", plugin_module("fake_core", ("loss", "fake")), "not-the-core")
    registry = load_registry([impostor, *installed_entry_points("dsm"), core])
    assert [(p.name, p.distribution) for p in registry.plugins] == [("core", "scorekit-core"), ("dsm", "scorekit-dsm")]
    (failure,) = registry.failures
    assert failure.distribution == "not-the-core" and "already used by scorekit-core" in failure.error
