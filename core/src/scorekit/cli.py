"""The ``scorekit`` command (click). Imports no torch until a command needs it, so ``--help`` is fast.

Exit codes: 0 success; 2 a mistake in the user's input (one line, no traceback); 1 a runtime
failure (a broken checkpoint or plugin, a diverged run).
"""

from __future__ import annotations

import datetime
import json
import sys
import time
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
SET_HELP = "Override a config value, e.g. --set train.steps=2000 (repeatable; values are TOML)."
# At most this many samples make the picture written after training an image run.
IMAGE_GRID_SIZE = 64


def _registry() -> Registry:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Registry):
        root.obj = load_registry()
    return root.obj


def _resolve(source: str | None, overrides: tuple[str, ...]) -> tuple[RunConfig, str]:
    """A config from a preset name or a TOML file, with --set overrides applied."""
    from scorekit.config import apply_overrides, load_config, parse_toml, read_toml_file

    registry = _registry()
    name = source or DEFAULT_PRESET
    path = Path(name)
    if name.endswith(".toml") or path.is_file():
        raw, label = read_toml_file(path), path.stem
    else:
        raw, label = parse_toml(registry.preset(name).toml_text, f"preset {name!r}"), name
    return load_config(apply_overrides(raw, list(overrides)), registry), label


def _load_run(run_dir: Path, overrides: tuple[str, ...] = ()) -> Any:
    from scorekit.config import apply_overrides, load_config, read_toml_file
    from scorekit.engine.run import CONFIG_FILE, Run

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UserError(f"{run_dir}: not a scorekit run directory (no {CONFIG_FILE})")
    registry = _registry()
    config = load_config(apply_overrides(read_toml_file(config_path), list(overrides)), registry)
    return Run(config, registry, run_dir)


def _output_path(output: Path, suffixes: tuple[str, ...]) -> Path:
    if output.suffix.lower() not in suffixes:
        raise UserError(f"--output must end in {' or '.join(suffixes)}, got {output.name!r}")
    if output.parent and not output.parent.is_dir():
        raise UserError(f"--output: directory {output.parent} does not exist")
    return output


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    rows = [
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


@cli.command()
@click.argument("source", required=False, metavar="[PRESET|FILE.toml]")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help=SET_HELP)
def config(source: str | None, overrides: tuple[str, ...]) -> None:
    """Print the resolved configuration of a preset or file (defaults filled in) as TOML."""
    import tomli_w

    from scorekit.config import dump_config

    resolved, _ = _resolve(source, overrides)
    click.echo(tomli_w.dumps(dump_config(resolved)), nl=False)


@cli.command()
@click.argument("source", required=False, metavar="[PRESET|FILE.toml]")
@click.option("--run-dir", type=click.Path(path_type=Path), help="Where to write the run (default: runs/NAME-TIME).")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help=SET_HELP)
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
    from scorekit.plotting import plot_image_grid, plot_samples

    run = Run(resolved, _registry(), run_dir)
    started = time.perf_counter()
    trainer = run.train(resume=resume)
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
        plot(samples, run_dir / SAMPLES_PICTURE, reference=reference, title=_describe(resolved, trainer.step))
        click.echo(f"samples: {run_dir / SAMPLES_PICTURE}")
    if run.likelihood is not None and run.data.event_shape == (2,):
        from scorekit.engine.run import DENSITY_PICTURE

        _density_picture(run, run_dir / DENSITY_PICTURE, _describe(resolved, trainer.step))
        click.echo(f"density: {run_dir / DENSITY_PICTURE}")


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
    resolved, _ = _resolve(source, overrides)  # report config mistakes once, here, not from every rank
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


def _describe(config: RunConfig, steps: int) -> str:
    sampler = config.sampler.kind if config.sampler else "no sampler"
    return f"{config.data.kind}: {config.model.kind}, loss {config.loss.kind}, {sampler}, {steps} steps"


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
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help=SET_HELP)
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
        plot(samples, output, title=f"{run_dir.name}: {num} samples")
    click.echo(f"wrote {num} samples to {output}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--input", "-i", "input_path", type=click.Path(path_type=Path), required=True, help="Points (N, d), .npy."
)
@click.option("--output", "-o", type=click.Path(path_type=Path), required=True, help="Scores (N, d), .npy.")
@click.option(
    "--sigma",
    type=float,
    default=None,
    help="Data-space noise level σ (default: the smallest trained σ). The built-in network is continuous "
    "in σ, so any σ inside the trained range is evaluated as is, not rounded to a trained level.",
)
def score(run_dir: Path, input_path: Path, output: Path, sigma: float | None) -> None:
    """Write the trained score ∇ₓ log p_σ(x) at the given points, in data space."""
    import numpy as np
    import torch

    from scorekit.data.arrays import load_array

    output = _output_path(output, (".npy",))
    run = _load_run(run_dir)
    x = torch.from_numpy(load_array(input_path))
    scores, used = run.score(x, sigma)
    np.save(output, scores.numpy().astype(np.float32), allow_pickle=False)
    click.echo(f"wrote scores at σ = {used:.6g} for {x.shape[0]} points to {output}")


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
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help=SET_HELP)
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
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help=SET_HELP)
def eval_command(run_dir: Path, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Evaluate a run: MMD to held-out data; mode weights and relative Fisher divergence per σ
    where the data set's density is known. Also written to RUN_DIR/eval.json."""
    from scorekit.engine.evaluate import evaluate

    run = _load_run(run_dir, overrides)
    result = evaluate(run)
    (run_dir / "eval.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    if "mmd" in result:
        click.echo(f"MMD² to held-out data: {result['mmd']:.5f} ({result['num_samples']} samples)")
    if "mode_weights" in result:
        weights = ", ".join(f"{w:.3f}" for w in result["mode_weights"])
        click.echo(f"mode weights: {weights} (max error {result['mode_weight_max_error']:.4f})")
    if "heldout_log_likelihood" in result:
        line = f"held-out log-likelihood: {result['heldout_log_likelihood']:.4f} nats"
        if "true_log_likelihood" in result:
            line += f" (true density {result['true_log_likelihood']:.4f}, gap {result['log_likelihood_gap']:.4f})"
        click.echo(line)
    for row in result.get("fisher", []):
        level = f"t = {row['t']:<6g} " if "t" in row else ""
        click.echo(f"{level}σ = {row['sigma']:<10.4g} relative Fisher divergence {row['relative_fisher']:.4f}")


def _add_plugin_commands(group: click.Group, registry: Registry) -> None:
    pm = registry.plugin_manager
    assert pm is not None
    for impl in pm.hook.scorekit_register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # a broken plugin command must not break the runner
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add commands: {exc}", err=True)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``scorekit`` command; maps scorekit's errors to exit codes."""
    registry = load_registry()
    _add_plugin_commands(cli, registry)
    try:
        code = cli.main(args=argv, prog_name="scorekit", standalone_mode=False, obj=registry)
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except click.ClickException as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    except UserError as exc:
        _fail(str(exc), 2)
    except ScorekitError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)
