"""`scorekit plot`: the training picture of a run."""

from __future__ import annotations

from pathlib import Path

import click

from scorekit.cli._common import _describe, _load_run, _output_path, cli


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), default=None, help="Picture (default RUN/training.png)."
)
@click.option(
    "--smoothing",
    type=click.FloatRange(0.0, 0.999),
    default=0.9,
    show_default=True,
    help="Weight of the loss curve's smoothed line (TensorBoard's: a debiased moving average).",
)
def plot(run_dir: Path, output: Path | None, smoothing: float) -> None:
    """Draw a run's training: the loss curve from metrics.jsonl with its smoothed line and the learning
    rate; for 2-D runs the learned score at three noise levels over the samples, with sampling paths;
    for image runs the latest samples."""
    from scorekit.training_plots import plot_training

    output = _output_path(output if output is not None else run_dir / "training.png", (".png",))
    run = _load_run(run_dir)
    run.progress = False
    title = _describe(run.config, run.checkpoint().step)
    for note in plot_training(run, output, smoothing=smoothing, title=title):
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {output}")
