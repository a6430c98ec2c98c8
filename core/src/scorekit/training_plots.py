"""Pictures of a run's training: the loss curve from metrics.jsonl, and what the model learned.

``scorekit plot RUN`` draws them (docs/user-guide.md, "Watching training"): the loss per logged step
with its smoothed line (TensorBoard's debiased exponential moving average) and the learning rate;
for 2-D runs the learned score as arrows over the samples' density at three noise levels (the
lecture's picture) with 8 sampling trajectories (25 points of each, evenly spaced in evaluations);
for image runs the latest checkpoint's samples.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from scorekit._io import read_regular_bytes
from scorekit.errors import UserError

__all__ = ["MAX_METRICS_BYTES", "read_metrics", "smoothed"]

#: The largest metrics.jsonl ``scorekit plot`` reads (a record is about 120 bytes: ~2·10⁶ records).
MAX_METRICS_BYTES = 256 * 2**20


def read_metrics(path: Path) -> tuple[list[dict[str, float]], int]:
    """The records of ``path`` that hold a finite step and loss, in step order, and how many lines
    were skipped (not JSON, no numeric step or loss: a line cut by a crash, a hand edit)."""
    data = read_regular_bytes(path, what="metrics file", error=UserError, max_bytes=MAX_METRICS_BYTES)
    records, skipped = [], 0
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            skipped += 1
            continue
        if not isinstance(record, dict) or not all(_finite(record.get(key)) for key in ("step", "loss")):
            skipped += 1
            continue
        records.append({k: float(v) for k, v in record.items() if _finite(v)})
    records.sort(key=lambda r: r["step"])
    return records, skipped


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def smoothed(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with weight ``weight`` in [0, 1),
    debiased (divided by 1 − weight^k) so that the first points are not pulled toward 0."""
    if not 0 <= weight < 1:
        raise ValueError(f"the smoothing weight must lie in [0, 1), got {weight}")
    out, average = [], 0.0
    for k, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**k))
    return out


def plot_training(run: Any, path: Path, *, smoothing: float, title: str) -> list[str]:
    """Draw ``run``'s training picture to ``path``; returns notes on what was left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scorekit.engine.run import METRICS_FILE

    records, skipped = read_metrics(run.run_dir / METRICS_FILE)
    notes = [f"skipped {skipped} lines of {METRICS_FILE} without a step and a loss"] if skipped else []
    if not records:
        raise UserError(f"{run.run_dir / METRICS_FILE}: no records with a step and a loss to draw")
    model, _ = run.trained_model()
    event_shape = tuple(model.event_shape)
    field = len(event_shape) == 1 and event_shape[0] == 2 and run.schedule is not None and not model.num_classes
    images = len(event_shape) == 3
    panels = 1 + (3 if field else 0) + (1 if images else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.4), squeeze=False)
    _loss_panel(axes[0][0], records, smoothing)
    if field:
        _score_field_panels(run, list(axes[0][1:4]))
    elif len(event_shape) == 1 and event_shape[0] == 2:
        notes.append("no score field: drawn for unconditional runs with a noise schedule")
    if images:
        from scorekit.plotting import tile_images

        samples = run.sample(36, seed=0)
        grid = tile_images(samples, 6)
        ax = axes[0][-1]
        gray = grid.shape[2] == 1
        ax.imshow(grid[:, :, 0].numpy() if gray else grid.numpy(), cmap="gray" if gray else None, vmin=0, vmax=1)
        ax.set_title(f"samples at step {run.checkpoint().step}")
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return notes


def _loss_panel(ax: Any, records: list[dict[str, float]], smoothing: float) -> None:
    steps = [r["step"] for r in records]
    losses = [r["loss"] for r in records]
    ax.plot(steps, losses, color="tab:blue", alpha=0.3, lw=1, label="loss")
    ax.plot(steps, smoothed(losses, smoothing), color="tab:blue", lw=1.6, label=f"smoothed ({smoothing:g})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if min(losses) > 0 and max(losses) / min(losses) > 20:
        ax.set_yscale("log")
    ax.legend(loc="upper right", fontsize=8)
    rates = [(r["step"], r["lr"]) for r in records if "lr" in r]
    if rates:
        twin = ax.twinx()
        twin.plot([s for s, _ in rates], [lr for _, lr in rates], color="gray", lw=0.8, ls="--")
        twin.set_ylabel("learning rate", color="gray")
    ax.set_title(f"training loss ({len(records)} records)")


def _score_field_panels(run: Any, axes: list[Any]) -> None:
    """The learned score at three noise levels (smallest, middle, largest trained, geometric) as
    arrows over a histogram of the run's samples, with 8 trajectories of the sampler."""
    import torch

    from scorekit.errors import OutOfRangeError

    trajectories: list[torch.Tensor] = []
    _, standardizer = run.trained_model()
    rows = torch.arange(8)

    def keep(evaluation: Any) -> None:
        if evaluation.chunk == 0:
            trajectories.append(standardizer.inverse(evaluation.x[rows].float()))

    samples = run.sample(2000, seed=0, callback=keep)
    try:
        run.score(samples[:1], 1e30)
        low, high = 0.0, 0.0
    except OutOfRangeError as exc:
        low, high = exc.low, exc.high
    sigmas = [low, math.sqrt(low * high), high] if low > 0 else [None]
    finite = samples[torch.isfinite(samples).all(dim=1)]
    lo, hi = finite.quantile(0.005, dim=0), finite.quantile(0.995, dim=0)
    pad = 0.15 * (hi - lo) + 1e-6
    lo, hi = lo - pad, hi + pad
    xs = torch.linspace(float(lo[0]), float(hi[0]), 21)
    ys = torch.linspace(float(lo[1]), float(hi[1]), 21)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    path = None
    if trajectories:  # 25 points of each path, evenly spaced in evaluations: Langevin's noise averages out
        every = torch.linspace(0, len(trajectories) - 1, 25).round().long().unique()
        path = torch.cat([torch.stack([trajectories[int(i)] for i in every], dim=1), samples[:8, None]], dim=1)
    for ax, sigma in zip(axes, sigmas + [None] * (len(axes) - len(sigmas)), strict=True):
        box = [[float(lo[0]), float(hi[0])], [float(lo[1]), float(hi[1])]]
        ax.hist2d(finite[:, 0].numpy(), finite[:, 1].numpy(), bins=80, range=box, cmap="Greys")
        if sigma is not None or low == 0:
            score, used = run.score(grid, sigma)
            norm = score.norm(dim=1, keepdim=True).clamp_min(1e-12)
            arrows = score / norm * norm.log1p()  # direction, with a length that grows slowly with |s|
            points, arrows = grid.numpy(), arrows.numpy()
            ax.quiver(points[:, 0], points[:, 1], arrows[:, 0], arrows[:, 1], color="tab:red", angles="xy", width=0.004)
            ax.set_title(f"learned score at σ = {used:.3g}")
        if path is not None and ax is axes[-1]:
            for trajectory in path.numpy():
                ax.plot(trajectory[:, 0], trajectory[:, 1], lw=0.8, color="tab:blue", alpha=0.8)
                ax.plot(trajectory[-1:, 0], trajectory[-1:, 1], "o", ms=3, color="tab:blue")
            ax.set_title(ax.get_title() + " · 8 sampling paths")
        ax.set_xlim(float(lo[0]), float(hi[0]))
        ax.set_ylim(float(lo[1]), float(hi[1]))
        ax.set_aspect("equal", adjustable="box")
