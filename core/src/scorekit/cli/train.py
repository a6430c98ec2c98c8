"""`scorekit train`: a run from a preset or file, resume, DDP through torchrun, the pictures after training."""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scorekit.errors import RunDirectoryError, UserError

if TYPE_CHECKING:
    pass


from scorekit.cli._common import (
    DEFAULT_PRESET,
    IMAGE_GRID_SIZE,
    _describe,
    _fail,
    _Interrupted,
    _is_image,
    _PresetsCommand,
    _registry,
    _resolve,
    _set_option,
    cli,
)


@cli.command(cls=_PresetsCommand)
@click.argument("source", required=False, metavar="[PRESET|FILE.toml]")
@click.option(
    "--run-dir",
    type=click.Path(),
    callback=lambda ctx, param, value: _run_dir(value),
    help="Where to write the run (default: runs/NAME-TIME).",
)
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
    from scorekit.engine.run import SAMPLES_PICTURE, Run
    from scorekit.engine.trainer import TrainingInterrupted
    from scorekit.plotting import plot_image_grid, plot_samples

    run = Run(resolved, _registry(), run_dir)
    started = time.perf_counter()
    try:
        result = run.train(resume=resume)
    except (KeyboardInterrupt, TrainingInterrupted) as exc:
        sigterm = isinstance(exc, TrainingInterrupted) and exc.signal == "SIGTERM"
        raise _Interrupted(_resume_hint(exc, run_dir), code=143 if sigterm else 130) from None
    except RunDirectoryError as exc:  # the engine's reason, in this command's switches
        raise UserError(
            {
                "exists": f"{run_dir} already holds checkpoints; pass --resume to continue it or choose another "
                "--run-dir",
                "nothing_to_resume": f"--resume: {run_dir} holds no checkpoint to resume from",
                "not_a_directory": f"--run-dir {run_dir} exists and is not a directory",
                "locked": f"another scorekit process (PID {exc.holder}) is training in {run_dir}; wait for it to "
                "finish or choose another --run-dir",
            }[exc.reason]
        ) from None
    if not result.is_main:
        return
    skipped = f", skipped {result.skipped} non-finite steps" if result.skipped else ""
    seconds = time.perf_counter() - started
    click.echo(
        f"trained {result.steps} steps (to step {result.step}) in {seconds:.1f} s{skipped}; run directory: {run_dir}"
    )
    if no_pictures:
        return
    if run.sampler is not None:
        image = _is_image(run.data.event_shape)
        # A grid of more images shows nothing new, and sampling images is slow.
        num = min(resolved.sample.num, IMAGE_GRID_SIZE) if image else resolved.sample.num
        samples = run.sample(num)
        reference = run.data.standardizer.inverse(run.data.heldout[:num])
        plot = plot_image_grid if image else plot_samples
        title = _describe(resolved, result.step, num_samples=num)
        plot(samples, run_dir / SAMPLES_PICTURE, reference=reference, title=title)
        click.echo(f"samples: {run_dir / SAMPLES_PICTURE}")
    if run.likelihood is not None and run.data.event_shape == (2,):
        from scorekit.engine.run import DENSITY_PICTURE

        _density_picture(run, run_dir / DENSITY_PICTURE, _describe(resolved, result.step))
        click.echo(f"density: {run_dir / DENSITY_PICTURE}")


def _run_dir(value: str | None) -> Path | None:
    """``--run-dir`` as a path; an empty one would train into the current directory, so it is refused."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("must name a directory for the run, got an empty path", param_hint="'--run-dir'")
    return Path(value)


def _resume_hint(exc: BaseException, run_dir: Path) -> str:
    """What an interrupted training kept, and the command that continues it."""
    from scorekit.engine.checkpoint import latest_checkpoint
    from scorekit.engine.run import CHECKPOINTS
    from scorekit.engine.trainer import TrainingInterrupted

    if isinstance(exc, TrainingInterrupted) and exc.checkpoint is not None:
        how = "interrupted" if exc.signal == "SIGINT" else f"stopped by {exc.signal}"
        kept = f"training {how} at step {exc.step}, checkpoint saved"
    else:
        latest = latest_checkpoint(run_dir / CHECKPOINTS)
        if latest is None:
            return "training interrupted before its first checkpoint: nothing to resume; start it again"
        kept = f"training interrupted; the latest checkpoint is {latest.name}"
    return f"{kept}; continue with: scorekit train --run-dir {run_dir} --resume"


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
