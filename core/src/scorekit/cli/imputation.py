"""`scorekit impute`: complete observed points or images where a mask says they are unknown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from scorekit._imputation_methods import METHODS
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
from scorekit.cli.sampling import MAX_SAMPLES
from scorekit.errors import UserError

#: Named masks for images (C, H, W): which half is known.
HALVES = ("top", "bottom", "left", "right")


def named_mask(name: str, event_shape: tuple[int, ...]) -> Any:
    """The mask ``--mask`` names: an image half (top/bottom/left/right known) or known coordinates "0,2"."""
    import numpy as np

    mask = np.zeros(event_shape, dtype=bool)
    if name in HALVES:
        if len(event_shape) != 3:
            raise UserError(f"--mask {name} is for image runs; this run's points have shape {event_shape}")
        height, width = event_shape[1:]
        rows, cols = slice(None), slice(None)
        rows = {"top": slice(0, height // 2), "bottom": slice(height - height // 2, height)}.get(name, rows)
        cols = {"left": slice(0, width // 2), "right": slice(width - width // 2, width)}.get(name, cols)
        mask[:, rows, cols] = True
        return mask
    if re.fullmatch(r"\d{1,9}(,\d{1,9})*", name):
        if len(event_shape) != 1:
            raise UserError(f"--mask {name}: coordinates are for point runs; name an image half ({', '.join(HALVES)})")
        known = [int(i) for i in name.split(",")]
        bad = [i for i in known if i >= event_shape[0]]
        if bad:
            raise UserError(f"--mask {name}: coordinate {bad[0]} does not exist (the points have {event_shape[0]})")
        mask[known] = True
        return mask
    raise UserError(
        f"--mask must be a .npy/.npz file, an image half ({', '.join(HALVES)}) or known coordinates like 0 or 0,2; "
        f"got {name!r:.60}"
    )


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--observed",
    type=click.Path(path_type=Path),
    required=True,
    help="Known values, .npy/.npz: rows (N, *event) or one point or image (*event); values where the mask is 0 "
    "are ignored but must be numbers.",
)
@click.option(
    "--mask",
    "mask_spec",
    required=True,
    help="1 where known, 0 where to fill: a .npy/.npz array of the observed values' shape or of one point's; "
    "for images top, bottom, left or right (the half that is known); for points the known coordinates, e.g. 0 or 0,2.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help=".npy completed array (num, *event); or .png: observed and completed side by side for images, a "
    "scatter of the completions for points.",
)
@click.option(
    "--num",
    "-n",
    type=click.IntRange(min=1, max=MAX_SAMPLES),
    default=None,
    help="Completions of a single observed point or image (default 1); rows are completed once each.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="guidance",
    show_default=True,
    help="replace: the replacement baseline; guidance: replacement plus reconstruction guidance (any sampler); "
    "annealed: exact in the limit with annealed Langevin (docs/controllable.md).",
)
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=None, help="Sampling seed (default: sample.seed).")
@click.option("--label", type=int, default=None, help="Class of the completions, for a class-conditional run.")
@click.option("--guidance", type=float, default=None, help="Classifier-free guidance scale w ≥ 0, with --label.")
@_allow_nonfinite_option
@_set_option("--set sampler.kind=annealed_langevin", run=True)
def impute(
    run_dir: Path,
    observed: Path,
    mask_spec: str,
    output: Path,
    num: int | None,
    method: str,
    seed: int | None,
    label: int | None,
    guidance: float | None,
    allow_nonfinite: bool,
    overrides: tuple[str, ...],
) -> None:
    """Fill in the unknown part of points or images with a trained run (inpainting), in data space."""
    import numpy as np
    import torch

    from scorekit.data.arrays import _read, load_mask
    from scorekit.errors import DataError

    output = _output_path(output, (".npy", ".png"))
    run = _load_run(run_dir, overrides)
    event_shape = tuple(run.trained_model()[0].event_shape)
    if not observed.exists():
        raise DataError(f"{observed}: no such file (the observed values)")
    values = _read(observed, None)
    if values.dtype.kind not in "biuf":
        raise DataError(f"{observed}: the observed values must be numbers, got dtype {values.dtype}")
    is_file = mask_spec.lower().endswith((".npy", ".npz")) or Path(mask_spec).exists()
    mask = load_mask(mask_spec) if is_file else named_mask(mask_spec, event_shape)
    x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    completed = run.impute(x, mask, num=num, method=method, seed=seed, label=label, guidance=guidance)
    if completed.ndim == len(event_shape):
        completed = completed[None]
    _check_finite(completed, "completions", allow_nonfinite, "the sampler diverged on them")
    if output.suffix.lower() == ".npy":
        save_array(output, completed.numpy().astype(np.float32))
    else:
        title = _describe(run.config, run.checkpoint().step, num_samples=len(completed)) + f" · impute ({method})"
        if _is_image(event_shape):
            from scorekit.plotting import plot_image_panels

            shown = x if x.ndim == len(event_shape) + 1 else x[None].expand_as(completed)
            known = torch.as_tensor(np.broadcast_to(mask, shown.shape).astype(bool))
            panels = [("observed", shown.masked_fill(~known, float("nan"))), ("completed", completed)]
            plot_image_panels(panels, output, title=title)
        else:
            from scorekit.plotting import plot_samples

            plot_samples(completed, output, title=title)
    nfe = run.last_sampling.nfe if run.last_sampling else None
    evaluations = f" ({nfe} model evaluations per sample)" if nfe else ""
    click.echo(f"wrote {len(completed)} completions ({method}) to {output}{evaluations}")
