"""The ``scorekit`` command (click). Imports no torch until a command needs it, so ``--help`` is fast.

Exit codes: 0 success; 2 a mistake in the user's input (one line, no traceback); 1 a runtime
failure (a broken checkpoint or plugin, a diverged run).

The commands live in one module each (info, train, sampling, evaluation); ``_common`` holds the
click group and what they share. Importing this package registers them all.
"""

from __future__ import annotations

import os
import sys
import warnings

import click

from scorekit._registry import Registry, load_registry
from scorekit.cli import evaluation, info, sampling, train  # noqa: F401  (registers the commands)
from scorekit.cli._common import _fail, _Interrupted, _one_line_warning, cli
from scorekit.errors import ScorekitError, UserError

__all__ = ["cli", "main"]


def _add_plugin_commands(group: click.Group, registry: Registry) -> None:
    pm = registry.plugin_manager
    assert pm is not None
    for impl in pm.hook.scorekit_register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # a broken plugin command must not break the runner
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add commands: {exc}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scorekit`` command; maps scorekit's errors to exit codes."""
    # OpenMP threads that wait by sleeping, not spinning, so that a run given several threads slows
    # down gracefully when other jobs share the cores (scorekit.engine.threads). Read when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.formatwarning = _one_line_warning
    registry = load_registry()
    _add_plugin_commands(cli, registry)
    try:
        code = cli.main(args=argv, prog_name="scorekit", standalone_mode=False, obj=registry)
    except click.exceptions.Abort:  # click's name for Ctrl-C outside training
        _fail("interrupted", 130)
    except _Interrupted as exc:
        _fail(str(exc), 130)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)  # a UsageError's
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    except UserError as exc:
        _fail(str(exc), 2)
    except ScorekitError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)
