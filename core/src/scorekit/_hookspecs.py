"""Hook specifications: how a plugin tells scorekit what it provides.

Every hook takes a ``register`` callable (or the click group) instead of returning values, so a
registration is attributed to the plugin that made it and specs can grow new arguments without
breaking implementations (pluggy lets an implementation accept a subset of a spec's arguments).

A plugin's entry module must stay light: it is imported when ``scorekit --help`` runs. Register
factories as ``"module:attribute"`` strings so torch is imported only when a component is built.

Whatever an entry module or a hook raises, ``SystemExit`` included, is that plugin's failure
(``Registry.failures``); only ``KeyboardInterrupt`` stops discovery (Ctrl-C). What they print to stdout
goes to stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from scorekit._registry import RegisterComponent, RegisterPreset

__all__ = ["hookimpl", "hookspec"]

PROJECT_NAME = "scorekit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def scorekit_register_components(register: RegisterComponent) -> None:
    """Register components by kind and name, each with its attrs config class.

    Call ``register(kind, name, factory=..., config=..., summary=...)`` once per component.
    ``kind`` is one of ``scorekit.COMPONENT_KINDS``, the names in the table
    :data:`scorekit.kinds.KINDS` (which also gives each kind's interface and config section);
    ``factory`` is a callable or a ``"module:attr"`` string naming one, called as
    ``factory(config)``; ``config`` is an attrs
    class whose fields are the component's configuration keys. Two plugins registering the same (kind, name) is an error
    that names both distributions.

    Example::

        @hookimpl
        def scorekit_register_components(register):
            register("loss", "my_loss", factory="my_plugin.loss:MyLoss", config=MyLossConfig)
    """


@hookspec
def scorekit_register_presets(register: RegisterPreset) -> None:
    """Register named run configurations usable as ``scorekit train NAME``.

    Call ``register(name, toml_text, summary=...)`` with a complete run configuration in TOML.
    A name already registered keeps the first registration (the core's are collected first, so a
    plugin cannot replace ``ncsn``); the refused one is reported by ``scorekit plugins``.
    """


@hookspec
def scorekit_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``scorekit`` command group (``cli.add_command(...)``).

    A command whose name is taken (the core's ``train``, or another plugin's) is not replaced: the
    existing one is kept and a warning names the plugin. A hook that raises adds none of its commands.
    """
