"""What the commands share: the click group, config resolution, run loading, output checks, messages."""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from scorekit import __version__
from scorekit._registry import Registry, load_registry
from scorekit.errors import ScorekitError, UserError

if TYPE_CHECKING:
    from scorekit.config import RunConfig


DEFAULT_PRESET = "ncsn"


# At most this many samples make the picture written after training an image run.
IMAGE_GRID_SIZE = 64


def _set_option(example: str, *, run: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The repeatable ``--set PATH=VALUE`` option, its help with an example that fits the command."""
    what = "a value of the run's config, for this command only" if run else "a config value"
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="PATH=VALUE",
        help=f"Override {what}, e.g. {example} (repeatable; values are TOML).",
    )


def _registry(ctx: click.Context | None = None) -> Registry:
    root = (ctx or click.get_current_context()).find_root()
    if not isinstance(root.obj, Registry):
        root.obj = load_registry()
    return root.obj


def _format_presets(ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """The installed presets and their summaries, read from the registry when --help is shown."""
    presets = _registry(ctx).presets
    if presets:
        with formatter.section("Presets"):
            formatter.write_dl([(name, presets[name].summary) for name in sorted(presets)])


class _PresetsGroup(click.Group):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_presets(ctx, formatter)
        super().format_epilog(ctx, formatter)


class _PresetsCommand(click.Command):
    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_presets(ctx, formatter)
        super().format_epilog(ctx, formatter)


def _resolve(source: str | None, overrides: tuple[str, ...], *, quiet: bool = False) -> tuple[RunConfig, str]:
    """A config from a preset name or a TOML file (with its bases merged in), with --set overrides applied.

    Notes (a file that extends the default preset) go to stderr once the config is valid, so that a
    mistake stays one line; under torchrun only the first process gives them.
    """
    from scorekit._bases import names_file, read_document
    from scorekit.config import apply_overrides, load_config

    registry = _registry()
    name = source or DEFAULT_PRESET
    notes: list[str] = []
    raw = read_document(name, registry, default=DEFAULT_PRESET, note=notes.append)
    resolved = load_config(apply_overrides(raw, list(overrides)), registry)
    if not quiet and os.environ.get("RANK", "0") == "0":
        for note in notes:
            click.echo(f"note: {note}", err=True)
    return resolved, Path(name).stem if names_file(name) else name


def _load_run(run_dir: Path, overrides: tuple[str, ...] = ()) -> Any:
    from scorekit.engine.run import Run

    return Run.load(run_dir, overrides=overrides, registry=_registry())


def _output_path(output: Path, suffixes: tuple[str, ...]) -> Path:
    """``output`` checked before any work: its suffix (any case), an existing directory, and that it is not a
    special file (a device, a FIFO: writing there is never what a user meant)."""
    if output.suffix.lower() not in suffixes:
        raise UserError(f"--output must end in {' or '.join(suffixes)}, got {output.name!r}")
    if output.parent and not output.parent.is_dir():
        raise UserError(f"--output: directory {output.parent} does not exist")
    if output.is_dir():
        raise UserError(f"--output {output} is a directory; give a file name ending in {' or '.join(suffixes)}")
    if output.exists() and not output.is_file():
        raise UserError(f"--output {output} is not a regular file (a device or a pipe); give a file name")
    return output


#: Seeds torch accepts: 0 to 2⁶³ − 1.
MAX_SEED = 2**63 - 1


def _allow_nonfinite_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--allow-nonfinite",
        is_flag=True,
        help="Write NaN or infinite results instead of refusing them (exit 1) — to inspect a diverged run.",
    )(function)


def _check_finite(values: Any, what: str, allowed: bool, why: str) -> None:
    """Refuse NaN or infinite ``values`` (a tensor) in one line, exit 1, unless ``allowed``; nothing is written."""
    import torch

    bad = int((~torch.isfinite(values)).reshape(values.shape[0], -1).any(dim=1).sum()) if values.ndim else 0
    if values.ndim == 0 and not bool(torch.isfinite(values)):
        bad = 1
    if bad and not allowed:
        rows = values.shape[0] if values.ndim else 1
        raise ScorekitError(
            f"{bad} of {rows} {what} are NaN or infinite ({why}); nothing written. Pass --allow-nonfinite to "
            "write them anyway"
        )


def save_array(output: Path, array: Any) -> None:
    """``array`` as a .npy file at exactly ``output`` (numpy would append .npy to ``x.NPY``), written to a
    temporary file and renamed, so a full disk leaves no half-written file (an OSError, exit 1)."""
    import io

    import numpy as np

    from scorekit._io import atomic_write_bytes

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(output, buffer.getvalue())


@click.group(cls=_PresetsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scorekit")
def cli() -> None:
    """scorekit: train, sample and evaluate score-based and diffusion models.

    Start with `scorekit train` (the default NCSN preset on eight_gaussians), then
    `scorekit sample RUN_DIR --num 1000 --output samples.png`.
    """


class _Interrupted(ScorekitError):
    """Ctrl-C or SIGTERM: exit 130 (143 for SIGTERM, 128 + its number) with a message that says what was
    kept and how to continue."""

    def __init__(self, message: str, code: int = 130) -> None:
        super().__init__(message)
        self.code = code


def _is_image(event_shape: tuple[int, ...]) -> bool:
    """Events (C, H, W) with 1 or 3 channels are drawn as image grids, everything else as points."""
    return len(event_shape) == 3 and event_shape[0] in (1, 3)


def _describe(config: RunConfig, step: int, *, num_samples: int | None = None) -> str:
    """The title of a picture, from the config that drew it.

    Samples: "eight_gaussians · ncsn_mlp · ddim · 2000 samples · step 8000"; a density picture (no
    ``num_samples``) names the likelihood in place of the sampler.
    """
    parts = [config.data.name, config.model.name]
    if num_samples is None:
        parts += [f"{config.likelihood.name} likelihood"] if config.likelihood else []
    else:
        parts += [config.sampler.name] if config.sampler else []
        parts.append(f"{num_samples} samples")
    return " · ".join([*parts, f"step {step}"])


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return f"warning: {message}\n"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(code)


def printable(text: str) -> str:
    """``text`` with control and invisible format characters escaped (a newline in a file name cannot start a
    second, spoofed line; a zero-width space in a key shows as ``\\u200b``); other Unicode stays as it is."""
    return "".join(
        char if unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp") else char.encode("unicode_escape").decode()
        for char in text
    )
