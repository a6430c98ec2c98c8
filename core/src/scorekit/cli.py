"""The ``scorekit`` command (click). Imports no torch until a command needs it, so ``--help`` is fast.

Exit codes: 0 success; 2 a mistake in the user's input (one line, no traceback); 1 a runtime
failure (a broken checkpoint or plugin, a diverged run).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from scorekit import __version__
from scorekit._registry import Registry, load_registry
from scorekit.errors import ScorekitError, UserError

if TYPE_CHECKING:
    from scorekit.config import RunConfig

__all__ = ["cli", "main"]

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
    if output.suffix.lower() not in suffixes:
        raise UserError(f"--output must end in {' or '.join(suffixes)}, got {output.name!r}")
    if output.parent and not output.parent.is_dir():
        raise UserError(f"--output: directory {output.parent} does not exist")
    return output


@click.group(cls=_PresetsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scorekit")
def cli() -> None:
    """scorekit: train, sample and evaluate score-based and diffusion models.

    Start with `scorekit train` (the default NCSN preset on eight_gaussians), then
    `scorekit sample RUN_DIR --num 1000 --output samples.png`.
    """


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
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
        click.echo(f"problem: {problem}", err=True)


@cli.command(cls=_PresetsCommand)
@click.argument("source", required=False, metavar="[PRESET|FILE.toml]")
@_set_option("--set train.steps=2000 --set model.hidden=256")
def config(source: str | None, overrides: tuple[str, ...]) -> None:
    """Print the resolved configuration of a preset or file (defaults filled in) as TOML."""
    import tomli_w

    from scorekit.config import dump_config

    resolved, _ = _resolve(source, overrides)
    click.echo(tomli_w.dumps(dump_config(resolved)), nl=False)


@cli.command(cls=_PresetsCommand)
@click.argument("source", required=False, metavar="[PRESET|FILE.toml]")
@click.option("--run-dir", type=click.Path(path_type=Path), help="Where to write the run (default: runs/NAME-TIME).")
@_set_option("--set train.steps=2000 --set model.hidden=256")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its latest checkpoint.")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    help="Train with N processes on this machine through torchrun (DDP: gloo on CPU, nccl on CUDA).",
)
@click.option(
    "--no-pictures", is_flag=True, help="Skip samples.png and density.png after training (no sampling, no likelihood)."
)
def train(
    source: str | None, run_dir: Path | None, overrides: tuple[str, ...], resume: bool, nproc: int, no_pictures: bool
) -> None:
    """Train a model; with no argument, the default preset (NCSN on eight_gaussians).

    The run directory receives the resolved config.toml, checkpoints/, metrics.jsonl and
    samples.png. For several machines, start `torchrun ... -m scorekit train ...` on each
    (docs/user-guide.md).
    """
    from scorekit.config import read_toml_file

    if resume and run_dir is None:
        raise UserError("--resume needs --run-dir pointing at the run to continue")
    if resume and source is None:
        from scorekit.engine.run import CONFIG_FILE

        # Resuming continues the run's own config (with any --set on top), not the default preset.
        source = str(run_dir / CONFIG_FILE)  # type: ignore[operator]
        if not Path(source).is_file():
            raise UserError(f"--resume: {run_dir} is not a scorekit run directory (no {CONFIG_FILE})")
    if nproc > 1:
        _launch_torchrun(nproc, source, run_dir, overrides, resume, no_pictures)
        return
    resolved, label = _resolve(source, overrides)
    if run_dir is None:
        run_dir = _default_run_dir(label)
    if resume:
        from scorekit.config import load_config
        from scorekit.engine.run import CONFIG_FILE

        saved_path = run_dir / CONFIG_FILE
        if saved_path.is_file():
            _check_resumable(load_config(read_toml_file(saved_path), _registry()), resolved)
    from scorekit.engine.run import SAMPLES_PICTURE, Run
    from scorekit.engine.trainer import TrainingInterrupted
    from scorekit.plotting import plot_image_grid, plot_samples

    run = Run(resolved, _registry(), run_dir)
    started = time.perf_counter()
    try:
        trainer = run.train(resume=resume)
    except (KeyboardInterrupt, TrainingInterrupted) as exc:
        raise _Interrupted(_resume_hint(exc, run_dir)) from None
    if not trainer.world.is_main:
        trainer.close()
        return
    skipped = f", skipped {trainer.skipped} non-finite steps" if trainer.skipped else ""
    seconds, done = time.perf_counter() - started, trainer.step - trainer.start_step
    click.echo(f"trained {done} steps (to step {trainer.step}) in {seconds:.1f} s{skipped}; run directory: {run_dir}")
    trainer.close()
    if no_pictures:
        return
    if run.sampler is not None:
        image = _is_image(run.data.event_shape)
        # A grid of more images shows nothing new, and sampling images is slow.
        num = min(resolved.sample.num, IMAGE_GRID_SIZE) if image else resolved.sample.num
        samples = run.sample(num)
        reference = run.data.standardizer.inverse(run.data.heldout[:num])
        plot = plot_image_grid if image else plot_samples
        title = _describe(resolved, trainer.step, num_samples=num)
        plot(samples, run_dir / SAMPLES_PICTURE, reference=reference, title=title)
        click.echo(f"samples: {run_dir / SAMPLES_PICTURE}")
    if run.likelihood is not None and run.data.event_shape == (2,):
        from scorekit.engine.run import DENSITY_PICTURE

        _density_picture(run, run_dir / DENSITY_PICTURE, _describe(resolved, trainer.step))
        click.echo(f"density: {run_dir / DENSITY_PICTURE}")


class _Interrupted(ScorekitError):
    """Ctrl-C: exit 130 with a message that says what was kept and how to continue."""


def _resume_hint(exc: BaseException, run_dir: Path) -> str:
    """What an interrupted training kept, and the command that continues it."""
    from scorekit.engine.checkpoint import latest_checkpoint
    from scorekit.engine.run import CHECKPOINTS
    from scorekit.engine.trainer import TrainingInterrupted

    if isinstance(exc, TrainingInterrupted) and exc.checkpoint is not None:
        kept = f"training interrupted at step {exc.step}, checkpoint saved"
    else:
        latest = latest_checkpoint(run_dir / CHECKPOINTS)
        if latest is None:
            return "training interrupted before its first checkpoint: nothing to resume; start it again"
        kept = f"training interrupted; the latest checkpoint is {latest.name}"
    return f"{kept}; continue with: scorekit train --run-dir {run_dir} --resume"


def _is_image(event_shape: tuple[int, ...]) -> bool:
    """Events (C, H, W) with 1 or 3 channels are drawn as image grids, everything else as points."""
    return len(event_shape) == 3 and event_shape[0] in (1, 3)


def _density_picture(run: Any, path: Path, title: str, resolution: int = 120) -> None:
    """The model's density on a grid over the held-out data (2-D runs with a [likelihood])."""
    import torch

    from scorekit.plotting import plot_density

    data = run.data.standardizer.inverse(run.data.heldout).double()
    low, high = data.quantile(0.002, dim=0), data.quantile(0.998, dim=0)
    pad = 0.15 * (high - low)
    low, high = low - pad, high + pad
    xs = torch.linspace(float(low[0]), float(high[0]), resolution, dtype=torch.float64)
    ys = torch.linspace(float(low[1]), float(high[1]), resolution, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    model_log_p = run.log_prob(grid).reshape(resolution, resolution)
    truth = run.density.log_prob(grid).reshape(resolution, resolution) if run.density is not None else None
    extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
    plot_density(model_log_p, extent, path, truth=truth, title=title)


def _default_run_dir(label: str) -> Path:
    return Path("runs") / f"{label}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _launch_torchrun(
    nproc: int, source: str | None, run_dir: Path | None, overrides: tuple[str, ...], resume: bool, no_pictures: bool
) -> None:
    """Re-run this command under torchrun with ``nproc`` local processes; exit with its status."""
    import os
    import subprocess

    if "WORLD_SIZE" in os.environ:
        raise UserError("--nproc cannot be used inside torchrun; torchrun already chose the processes")
    # Report config mistakes once, here, not from every rank; the first rank gives any note.
    resolved, _ = _resolve(source, overrides, quiet=True)
    if resolved.train.batch_size % nproc:
        raise UserError(
            f"batch_size {resolved.train.batch_size} is not divisible by --nproc {nproc} @ $.train.batch_size"
        )
    if run_dir is None:
        label = Path(source).stem if source else DEFAULT_PRESET
        run_dir = _default_run_dir(label)
    args = [*([source] if source else []), "--run-dir", str(run_dir), *(f"--set={o}" for o in overrides)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "scorekit",
        "train",
        *args,
        *(["--resume"] if resume else []),
        *(["--no-pictures"] if no_pictures else []),
    ]
    code = subprocess.call(command)
    if code:
        _fail(f"torchrun exited with status {code}", 1)


def _describe(config: RunConfig, step: int, *, num_samples: int | None = None) -> str:
    """The title of a picture, from the config that drew it.

    Samples: "eight_gaussians · ncsn_mlp · ddim · 2000 samples · step 8000"; a density picture (no
    ``num_samples``) names the likelihood in place of the sampler.
    """
    parts = [config.data.kind, config.model.kind]
    if num_samples is None:
        parts += [f"{config.likelihood.kind} likelihood"] if config.likelihood else []
    else:
        parts += [config.sampler.kind] if config.sampler else []
        parts.append(f"{num_samples} samples")
    return " · ".join([*parts, f"step {step}"])


def _check_resumable(saved: RunConfig, requested: RunConfig) -> None:
    """A resumed run may only extend ``train.steps``; anything else would silently change the run."""
    import attrs

    from scorekit.config import dump_config

    a = dump_config(attrs.evolve(saved, train=attrs.evolve(saved.train, steps=1)))
    b = dump_config(attrs.evolve(requested, train=attrs.evolve(requested.train, steps=1)))
    changed = sorted(
        f"{section}.{key}"
        for section in set(a) | set(b)
        for key in set(a.get(section, {})) | set(b.get(section, {}))
        if a.get(section, {}).get(key) != b.get(section, {}).get(key)
    )
    if changed:
        raise UserError(f"--resume: the config differs from the run's saved config in {', '.join(changed)}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--num", "-n", type=click.IntRange(min=1), required=True, help="Number of samples.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help=".npy array (N, *event): (N, d) points or (N, C, H, W) images; or .png picture: a scatter plot, "
    "or an image grid for image runs.",
)
@click.option("--seed", type=int, default=None, help="Sampling seed (default: sample.seed of the run's config).")
@_set_option("--set sampler.steps_per_level=50, or --set sampler.kind=ddim on a DDPM run", run=True)
def sample(run_dir: Path, num: int, output: Path, seed: int | None, overrides: tuple[str, ...]) -> None:
    """Draw samples from a trained run, in data space."""
    output = _output_path(output, (".npy", ".png"))
    run = _load_run(run_dir, overrides)
    samples = run.sample(num, seed=seed)
    if output.suffix.lower() == ".npy":
        import numpy as np

        np.save(output, samples.numpy().astype(np.float32), allow_pickle=False)
    else:
        from scorekit.plotting import plot_image_grid, plot_samples

        plot = plot_image_grid if _is_image(tuple(samples.shape[1:])) else plot_samples
        # The run's config with this command's --set applied: a --set sampler.kind shows in the title.
        plot(samples, output, title=_describe(run.config, run.checkpoint().step, num_samples=num))
    nfe = run.last_sampling.nfe if run.last_sampling else None
    click.echo(f"wrote {num} samples to {output}" + (f" ({nfe} model evaluations per sample)" if nfe else ""))


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--input",
    "-i",
    "input_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Points (N, d), or one point (d,), .npy.",
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), required=True, help="Scores, .npy, of the input's shape."
)
@click.option(
    "--sigma",
    type=float,
    default=None,
    help="Data-space noise level σ (default: the smallest trained σ), inside the trained range; it is evaluated "
    "as is, not rounded to a level. The default preset trains on every σ of its range; a run trained on "
    'its levels only (schedule.training = "levels") was never fit between them, and `score` then names '
    "the nearest level.",
)
def score(run_dir: Path, input_path: Path, output: Path, sigma: float | None) -> None:
    """Write the trained score ∇ₓ log p_σ(x) at the given points, in data space."""
    import numpy as np
    import torch

    from scorekit.data.arrays import load_array

    output = _output_path(output, (".npy",))
    run = _load_run(run_dir)
    x = torch.from_numpy(load_array(input_path, ndims=(1, 2), min_points=1))
    one_point = x.ndim == 1
    scores, used = run.score(x[None] if one_point else x, sigma)
    np.save(output, (scores[0] if one_point else scores).numpy().astype(np.float32), allow_pickle=False)
    note = run.off_level_note(used)
    if note is not None:
        click.echo(f"note: {note}", err=True)
    points = "1 point" if one_point else f"{x.shape[0]} points"
    click.echo(f"wrote scores at σ = {used:.6g} for {points} to {output}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--input",
    "-i",
    "input_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Points (N, d) or images (N, C, H, W), .npy.",
)
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True, help="Log-densities (N,), .npy.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of a randomized trace estimator.")
@_set_option("--set likelihood.kind=probability_flow", run=True)
def logprob(run_dir: Path, input_path: Path, output: Path, seed: int, overrides: tuple[str, ...]) -> None:
    """Write the trained model's log-density log p(x) at the given points, in data space (nats).

    Needs a run with a [likelihood] section: a CNF's, or "probability_flow" for score and diffusion
    models on a continuous schedule (plugin sde). The standardization's log-determinant is accounted
    for. A score run without a [likelihood] section takes `--set likelihood.kind=probability_flow`.
    For images the mean is also given in bits per dimension, −log p/(d·ln 2), of the continuous
    density in the data's own coordinates (no dequantization)."""
    import math

    import numpy as np
    import torch

    from scorekit.data.arrays import load_array

    output = _output_path(output, (".npy",))
    run = _load_run(run_dir, overrides)
    # Points (N, d) or images (N, C, H, W) as `scorekit sample` writes them; the run checks the event shape.
    x = torch.from_numpy(load_array(input_path, ndims=(2, 3, 4)))
    log_p = run.log_prob(x, seed=seed)
    np.save(output, log_p.numpy(), allow_pickle=False)
    mean = float(log_p.mean())
    line = f"wrote log-densities of {x.shape[0]} points to {output} (mean {mean:.4f} nats"
    if x.ndim > 2:
        line += f", {-mean / (math.prod(x.shape[1:]) * math.log(2)):.4f} bits/dim"
    click.echo(line + ")")


@cli.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_set_option("--set eval.num_samples=2000", run=True)
def eval_command(run_dir: Path, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Evaluate a run's latest checkpoint, each metric beside its value on true data: MMD to held-out
    data; where the data set's density is known, mode weights and the relative Fisher divergence per
    noise level (beside a fitted Gaussian's); with a [likelihood], the held-out log-likelihood. Also
    written to RUN_DIR/eval.json."""
    from scorekit.engine.evaluate import evaluate

    run = _load_run(run_dir, overrides)
    result = evaluate(run)
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for line in _eval_lines(run_dir, result):
        click.echo(line)


def _eval_lines(run_dir: Path, result: dict[str, Any]) -> list[str]:
    """``evaluate``'s result as text: one line per metric, its baseline and what the numbers mean."""
    kinds = " · ".join(result[k] for k in ("dataset", "model", "schedule", "sampler", "likelihood") if result.get(k))
    lines = [f"run {run_dir}, checkpoint step {result['checkpoint_step']} ({kinds})"]
    if result.get("non_finite_samples"):
        lines.append(
            f"non-finite samples: {result['non_finite_samples']} of {result['num_samples']} (the sampler diverged "
            "on them), left out of the sample metrics below"
        )
    if "mmd" in result:
        used = result["num_samples"] - result["non_finite_samples"]
        of = f" of {result['mmd_baseline_num_samples']}" if result["mmd_baseline_num_samples"] != used else ""
        lines.append(
            f"MMD² to held-out data: {result['mmd']:.3g} over {used} samples (two true samples{of}: "
            f"{result['mmd_baseline']:.3g}; unbiased, can be slightly negative; ≈ baseline means indistinguishable "
            "at this sample size)"
            + (
                f"; {result['sampler_evaluations']} model evaluations per sample"
                if result.get("sampler_evaluations")
                else ""
            )
        )
    if "mode_weights" in result:
        weights, true = result["mode_weights"], result["true_mode_weights"]
        truth = f"{true[0]:.3f} each" if len(set(true)) == 1 else ", ".join(f"{w:.3f}" for w in true)
        shares = ", ".join(f"{w:.3f}" for w in weights)
        lines.append(f"mode weights (share of samples per mode): {shares}; true {truth}")
        lines.append(
            f"mode-weight max error: {result['mode_weight_max_error']:.4f} (an exact draw of as many points: "
            f"{result['mode_weight_max_error_baseline']:.4f}, the sampling error alone)"
        )
    if "heldout_log_likelihood" in result:
        line = f"held-out log-likelihood: {result['heldout_log_likelihood']:.4f} nats"
        if "true_log_likelihood" in result:
            line += (
                f" (true density: {result['true_log_likelihood']:.4f}; gap {result['log_likelihood_gap']:.4f} "
                "≈ KL(data ‖ model), 0 is perfect)"
            )
        lines.append(line)
    if result.get("fisher"):
        lines.append(
            "relative Fisher divergence E‖s_θ − ∇log p_t‖² / E‖∇log p_t‖² per noise level, σ in data units "
            "(0: the exact score; 1: a zero score; beside it a Gaussian fitted to the data):"
        )
    for row in result.get("fisher", []):
        level = f"t = {row['t']:<6g} " if "t" in row else ""
        line = f"  {level}σ = {row['sigma']:<10.4g} model {row['relative_fisher']:<10.4g}"
        if "gaussian_relative_fisher" in row:
            line += f" Gaussian fit {row['gaussian_relative_fisher']:<10.4g}"
        if row["relative_fisher"] > 1:
            line += " worse than a zero score: the network does not resolve p_t at this level"
        lines.append(line.rstrip())
    return lines


def _add_plugin_commands(group: click.Group, registry: Registry) -> None:
    pm = registry.plugin_manager
    assert pm is not None
    for impl in pm.hook.scorekit_register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # a broken plugin command must not break the runner
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add commands: {exc}", err=True)


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return f"warning: {message}\n"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


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
