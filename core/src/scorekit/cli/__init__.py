"""The ``scorekit`` command (click). Imports no torch until a command needs it, so ``--help`` is fast.

Exit codes: 0 success; 2 a mistake in the user's input (one line, no traceback); 1 a runtime
failure (a broken checkpoint or plugin, a diverged run); 130 interrupted (Ctrl-C, one line).

A plugin cannot take the command down: whatever it raises at import or in a hook (``SystemExit``
included) is that plugin's failure, listed by ``scorekit plugins``, and what it prints meanwhile
goes to stderr. ``KeyboardInterrupt`` during discovery, a real Ctrl-C or one a plugin raises (the two
cannot be told apart), stops the command: exit 130, ``error: interrupted``. A plugin command whose
name is taken (``train``, or another plugin's) is refused with a warning; the existing one is kept.

The commands live in one module each (info, train, sampling, evaluation); ``_common`` holds the
click group and what they share. Importing this package registers them all.
"""

from __future__ import annotations

import copy
import os
import sys
import warnings

import click

from scorekit._registry import (
    PluginFailure,
    Registry,
    _describe,
    _format_traceback,
    load_registry,
    plugin_output_to_stderr,
)
from scorekit.cli import evaluation, imputation, info, plot, sampling, train  # noqa: F401  (registers the commands)
from scorekit.cli._common import _fail, _Interrupted, _one_line_warning, cli, printable
from scorekit.errors import ScorekitError, UserError

__all__ = ["cli", "main"]


def _add_plugin_commands(group: click.Group, registry: Registry) -> None:
    """Let each plugin add its commands to ``group``; none may replace or remove one already there.

    click's ``add_command`` silently overwrites, and a plugin may also edit ``group.commands``
    directly, so the commands are compared before and after each plugin's hook: a name that was taken
    gets its command back, with one warning line naming the plugin (also recorded as that plugin's
    failure). A hook that raises (``SystemExit`` included) adds nothing and is reported the same way;
    ``KeyboardInterrupt`` propagates. What the hooks print goes to stderr.
    """
    pm = registry.plugin_manager
    assert pm is not None
    distributions = {p.name: p.distribution for p in registry.plugins}
    for impl in pm.hook.scorekit_register_commands.get_hookimpls():
        plugin = impl.plugin_name
        distribution = distributions.get(plugin, "unknown distribution")
        before = dict(group.commands)
        try:
            with plugin_output_to_stderr():
                impl.function(cli=group)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin command must not break the runner
            group.commands.clear()
            group.commands.update(before)
            message = f"hook scorekit_register_commands raised {_describe(exc)}"
            registry.failures.append(PluginFailure(plugin, distribution, message, _format_traceback(exc)))
            click.echo(f"warning: plugin {plugin!r} failed to add commands: {_describe(exc)}", err=True)
            continue
        taken = sorted(name for name, command in before.items() if group.commands.get(name) is not command)
        if taken:
            for name in taken:
                group.commands[name] = before[name]
            names = ", ".join(repr(name) for name in taken)
            if len(taken) == 1:
                message = f"tried to add command {names}, which is already taken; kept the existing one"
            else:
                message = f"tried to add commands {names}, which are already taken; kept the existing ones"
            registry.failures.append(PluginFailure(plugin, distribution, message))
            click.echo(f"warning: plugin {plugin!r} {message}", err=True)


def _with_plugin_commands(registry: Registry) -> click.Group:
    """The ``scorekit`` group with the plugins' commands added: a copy, so ``cli`` stays the core's."""
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    _add_plugin_commands(group, registry)
    return group


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scorekit`` command; maps scorekit's errors to exit codes."""
    # OpenMP threads that wait by sleeping, not spinning, so that a run given several threads slows
    # down gracefully when other jobs share the cores (scorekit.engine.threads). Read when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.formatwarning = _one_line_warning
    _check_thread_environment()
    try:
        registry = load_registry()
        group = _with_plugin_commands(registry)
    except KeyboardInterrupt:  # during discovery: a real Ctrl-C or a plugin's, stop either way
        _fail("interrupted", 130)
    try:
        code = group.main(args=argv, prog_name="scorekit", standalone_mode=False, obj=registry)
    except click.exceptions.Abort:  # click's name for Ctrl-C outside training
        _fail("interrupted", 130)
    except _Interrupted as exc:
        _fail(str(exc), exc.code)
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
    except OSError as exc:  # a full disk, a read-only directory, a permission: the system's word, one line
        _fail(_os_error(exc), 1)
    except MemoryError:
        _fail("out of memory; use fewer samples or points (a smaller --num or chunk size) or a smaller model", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _check_thread_environment() -> None:
    """An OMP_NUM_THREADS that is not a positive integer is dropped (with one warning line) before torch loads:
    OpenMP would print its own complaint and run on every core, against the one-thread default."""
    value = os.environ.get("OMP_NUM_THREADS")
    if value is None:
        return
    if not (value.strip().isdigit() and 0 < int(value.strip()) <= 4096):
        del os.environ["OMP_NUM_THREADS"]
        click.echo(
            f"warning: OMP_NUM_THREADS={printable(value)!r} is not a thread count (1 to 4096); ignored", err=True
        )


def _os_error(exc: OSError) -> str:
    """An OSError as one line: the file, then what the system says (``[Errno 28] No space left on device``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"system error: {reason}"
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {reason}"
