"""`scorekit sample`, `scorekit score` and `scorekit logprob` on a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    default=None,
    help="Class of every sample, for a class-conditional run (model.classes > 0); left out, each sample's class "
    "is drawn from the training data's class frequencies. Several (3,7) or all, with a .png output: a picture "
    "of --num samples per class (a class-by-guidance grid for images).",
)
@click.option(
    "--guidance",
    default=None,
    help="Classifier-free guidance scale w ≥ 0 with --label, for runs trained with train.label_dropout > 0: "
    "(1 + w)·f(x, label) − w·f(x, no label). Several (0,1,3) with a .png output: one row or panel per w.",
)
@_allow_nonfinite_option
@_set_option("--set sampler.steps_per_level=50, or --set sampler.kind=ddim on a DDPM run", run=True)
def sample(
    run_dir: Path,
    num: int,
    output: Path,
    seed: int | None,
    label: str | None,
    guidance: str | None,
    allow_nonfinite: bool,
    overrides: tuple[str, ...],
) -> None:
    """Draw samples from a trained run, in data space."""
    output = _output_path(output, (".npy", ".png"))
    run = _load_run(run_dir, overrides)
    labels, scales = _labels_option(label, run), _numbers_option(guidance, "--guidance")
    if (labels is not None and len(labels) > 1) or (scales is not None and len(scales) > 1):
        _class_grid(run, num, seed, labels, scales, output, allow_nonfinite)
        return
    one_label = None if labels is None else labels[0]
    samples = run.sample(num, seed=seed, label=one_label, guidance=None if scales is None else scales[0])
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


def _numbers_option(text: str | None, name: str) -> list[float] | None:
    """``--guidance 2`` or ``--guidance 0,1,3`` as floats (a UserError in one line otherwise)."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"{name} must be a number or numbers separated by commas, got {text!r:.60}") from None
    if len(values) > 64:
        raise UserError(f"{name} takes at most 64 values, got {len(values)}")
    return values


def _labels_option(text: str | None, run: Any) -> list[int] | None:
    """``--label 7``, ``--label 3,7`` or ``--label all`` (every trained class) as integers."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        classes = run.trained_model()[0].num_classes
        if not classes:
            raise UserError("--label all needs a class-conditional run; this run's model is unconditional")
        return list(range(min(classes, 100)))
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--label must be a class, classes separated by commas, or all; got {text!r:.60}") from None
    if len(values) > 100:
        raise UserError(f"--label takes at most 100 classes, got {len(values)}")
    return values


def _class_grid(
    run: Any,
    num: int,
    seed: int | None,
    labels: list[int] | None,
    scales: list[float] | None,
    output: Path,
    allow_nonfinite: bool,
) -> None:
    """``num`` samples per label at each guidance scale, drawn as one picture (only .png)."""
    import torch

    from scorekit.plotting import plot_class_grid

    if output.suffix.lower() != ".png":
        raise UserError("several labels or guidance scales draw a picture: give a .png output (-o grid.png)")
    if labels is None:
        raise UserError("several guidance scales need --label: the class or classes to guide towards")
    if num * len(labels) > 10_000:
        raise UserError(f"a picture of {num} samples for each of {len(labels)} classes is too many; lower --num")
    per_row = torch.tensor(labels).repeat(num)
    draws = []
    for w in scales if scales is not None else [None]:
        samples = run.sample(len(per_row), seed=seed, label=per_row, guidance=w)
        _check_finite(samples, "samples", allow_nonfinite, "the sampler diverged on them")
        draws.append(samples)
    shown = [0.0 if w is None else w for w in (scales if scales is not None else [None])]
    title = _describe(run.config, run.checkpoint().step, num_samples=len(per_row))
    plot_class_grid(draws, per_row, shown, output, title=title)
    click.echo(f"wrote {len(per_row)} samples × {len(draws)} guidance scales to {output}")
