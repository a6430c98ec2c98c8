"""`scorekit plugins` and `scorekit config`."""

from __future__ import annotations

import json
from typing import Any

import click

from scorekit.cli._common import _PresetsCommand, _registry, _resolve, _set_option, cli, printable


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--traceback", "tracebacks", is_flag=True, help="Print the traceback of each plugin that failed to load.")
def plugins(as_json: bool, tracebacks: bool) -> None:
    """List installed plugins, their components by kind, presets, and plugins that failed."""
    registry = _registry()
    rows: list[dict[str, Any]] = [
        {
            "plugin": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "components": registry.components_of(p.name),
            "presets": sorted(n for n, preset in registry.presets.items() if preset.plugin.name == p.name),
        }
        for p in registry.plugins
    ]
    problems = [str(f) for f in registry.failures] + [
        f"{kind} {name!r} registered by more than one plugin: "
        + ", ".join(f"{p.name} ({p.distribution})" for p in owners)
        for (kind, name), owners in sorted(registry.conflicts.items())
    ]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "problems": problems}, indent=2))
        return
    for row in rows:
        click.echo(f"{row['plugin']}  ({row['distribution']} {row['version']})")
        for kind, names in row["components"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
        if row["presets"]:
            click.echo(f"  preset: {', '.join(row['presets'])}")
    for problem in problems:
        click.echo(f"problem: {printable(problem)}", err=True)  # a plugin's message cannot forge a line
    if tracebacks:
        for failure in registry.failures:
            if failure.traceback:
                click.echo(f"\ntraceback of plugin {failure.plugin!r} ({failure.distribution}):", err=True)
                click.echo(failure.traceback.rstrip("\n"), err=True)
    elif any(failure.traceback for failure in registry.failures):
        click.echo("(scorekit plugins --traceback shows where each failure came from)", err=True)


@cli.command(cls=_PresetsCommand)
@click.argument("source", required=False, metavar="[PRESET|FILE.toml]")
@_set_option("--set train.steps=2000 --set model.hidden=256")
def config(source: str | None, overrides: tuple[str, ...]) -> None:
    """Print the resolved configuration of a preset or file (defaults filled in) as TOML."""
    import tomli_w

    from scorekit.config import dump_config

    resolved, _ = _resolve(source, overrides)
    click.echo(tomli_w.dumps(dump_config(resolved)), nl=False)
