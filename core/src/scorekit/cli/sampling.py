"""`scorekit sample`, `scorekit score` and `scorekit logprob` on a trained run."""

from __future__ import annotations

from pathlib import Path

import click

from scorekit.cli._common import (
    MAX_SEED,
    _allow_nonfinite_option,
    _check_finite,
    _describe,
    _is_image,
    _load_run,
    _output_path,
    _set_option,
    cli,
    save_array,
)
from scorekit.errors import OutOfRangeError, UserError

#: The most samples one `scorekit sample` call draws (memory: 10⁷ × d floats).
MAX_SAMPLES = 10_000_000


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--num", "-n", type=click.IntRange(min=1, max=MAX_SAMPLES), required=True, help="Number of samples.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help=".npy array (N, *event): (N, d) points or (N, C, H, W) images; or .png picture: a scatter plot, "
    "or an image grid for image runs.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=None,
    help="Sampling seed (default: sample.seed of the run's config).",
)
@click.option(
    "--label",
    type=int,
    default=None,
    help="Class of every sample, for a class-conditional run (model.classes > 0); left out, each sample's class "
    "is drawn from the training data's class frequencies.",
)
@click.option(
    "--guidance",
    type=float,
    default=None,
    help="Classifier-free guidance scale w ≥ 0 with --label, for runs trained with train.label_dropout > 0: "
    "(1 + w)·f(x, label) − w·f(x, no label).",
)
@_allow_nonfinite_option
@_set_option("--set sampler.steps_per_level=50, or --set sampler.kind=ddim on a DDPM run", run=True)
def sample(
    run_dir: Path,
    num: int,
    output: Path,
    seed: int | None,
    label: int | None,
    guidance: float | None,
    allow_nonfinite: bool,
    overrides: tuple[str, ...],
) -> None:
    """Draw samples from a trained run, in data space."""
    output = _output_path(output, (".npy", ".png"))
    run = _load_run(run_dir, overrides)
    samples = run.sample(num, seed=seed, label=label, guidance=guidance)
    _check_finite(samples, "samples", allow_nonfinite, "the sampler diverged on them")
    if output.suffix.lower() == ".npy":
        import numpy as np

        save_array(output, samples.numpy().astype(np.float32))
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
@_allow_nonfinite_option
def score(run_dir: Path, input_path: Path, output: Path, sigma: float | None, allow_nonfinite: bool) -> None:
    """Write the trained score ∇ₓ log p_σ(x) at the given points, in data space."""
    import numpy as np
    import torch

    from scorekit.data.arrays import load_array

    output = _output_path(output, (".npy",))
    run = _load_run(run_dir)
    x = torch.from_numpy(load_array(input_path, ndims=(1, 2, 3, 4), min_points=1))  # the run checks the shape
    one_point = x.ndim == 1
    try:
        scores, used = run.score(x[None] if one_point else x, sigma)
    except OutOfRangeError as exc:
        raise UserError(
            f"--sigma must lie in the trained range [{exc.low:.6g}, {exc.high:.6g}], got {exc.value}"
        ) from None
    _check_finite(scores, "scores", allow_nonfinite, "the model's weights or the σ make the network overflow")
    save_array(output, (scores[0] if one_point else scores).numpy().astype(np.float32))
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
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of a randomized trace estimator.",
)
@_allow_nonfinite_option
@_set_option("--set likelihood.kind=probability_flow", run=True)
def logprob(
    run_dir: Path, input_path: Path, output: Path, seed: int, allow_nonfinite: bool, overrides: tuple[str, ...]
) -> None:
    """Write the trained model's log-density log p(x) at the given points, in data space (nats).

    Needs a run with a [likelihood] section: a CNF's, or "probability_flow" for score and diffusion
    models on a continuous schedule (plugin sde). The standardization's log-determinant is accounted
    for. A score run without a [likelihood] section takes `--set likelihood.kind=probability_flow`.
    For images the mean is also given in bits per dimension, −log p/(d·ln 2), of the continuous
    density in the data's own coordinates (no dequantization)."""
    import math

    import torch

    from scorekit.data.arrays import load_array

    output = _output_path(output, (".npy",))
    run = _load_run(run_dir, overrides)
    # Points (N, d) or images (N, C, H, W) as `scorekit sample` writes them; the run checks the event shape.
    x = torch.from_numpy(load_array(input_path, ndims=(1, 2, 3, 4), min_points=1))
    log_p = run.log_prob(x, seed=seed)
    _check_finite(log_p, "log-densities", allow_nonfinite, "the ODE solve diverged on them")
    save_array(output, log_p.numpy())
    mean = float(log_p.mean())
    one = log_p.ndim == 0  # a single point (d,) or image (C, H, W) was given
    count, event = (1, x.shape) if one else (x.shape[0], x.shape[1:])
    line = f"wrote log-densities of {count} point{'' if count == 1 else 's'} to {output} (mean {mean:.4f} nats"
    if len(event) > 1:
        line += f", {-mean / (math.prod(event) * math.log(2)):.4f} bits/dim"
    click.echo(line + ")")
