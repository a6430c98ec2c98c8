"""PNG pictures of samples and densities (matplotlib, headless)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from scorekit.errors import ScorekitError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_class_grid", "plot_density", "plot_image_grid", "plot_image_panels", "plot_samples", "tile_images"]

# Characters of a title at matplotlib's default size that fit across one 4.5-inch panel.
_TITLE_CHARS_PER_PANEL = 45


def _suptitle(fig: Figure, title: str, panels: int) -> None:
    """Set the figure's title, broken at its " · " separators into lines as wide as the panels."""
    if not title:
        return
    lines: list[str] = []
    for part in title.split(" · "):
        if lines and len(lines[-1]) + len(" · ") + len(part) <= _TITLE_CHARS_PER_PANEL * panels:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    fig.suptitle("\n".join(lines))


def plot_samples(
    samples: torch.Tensor, path: Path, *, reference: torch.Tensor | None = None, title: str = ""
) -> Figure:
    """Scatter the first two coordinates of ``samples`` (N, d), beside ``reference`` data if given.

    Axes are labelled x[0] and x[1] (coordinates, not the diffusion's x₀), and for d > 2 each panel's
    title says which dimensions it shows; d = 1 is a histogram of x. Returns the figure, already written and closed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("samples", samples)] + ([("held-out data", reference)] if reference is not None else [])
    dim = samples.reshape(samples.shape[0], -1).shape[1]
    shown = f", dims 0–1 of {dim}" if dim > 2 else ""
    points = [p.reshape(p.shape[0], -1)[:, :2].double() for _, p in panels]
    finite = torch.cat([p[torch.isfinite(p).all(dim=1)] for p in points])
    if finite.numel() == 0:
        raise ScorekitError(f"cannot draw {path}: every sample is NaN or infinite (the sampler diverged)")
    low, high = finite.quantile(0.001, dim=0), finite.quantile(0.999, dim=0)
    pad = 0.05 * (high - low) + 1e-6
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.5), squeeze=False)
    for ax, (name, _), p in zip(axes[0], panels, points, strict=True):
        if p.shape[1] == 1:
            ax.hist(p[:, 0].numpy(), bins=100, density=True)
            ax.set_xlabel("x")
            ax.set_ylabel("density")
        else:
            ax.scatter(p[:, 0].numpy(), p[:, 1].numpy(), s=1.5, alpha=0.4, linewidths=0)
            ax.set_ylim(float(low[1] - pad[1]), float(high[1] + pad[1]))
            ax.set_aspect("equal", adjustable="box")
            ax.set_xlabel("x[0]")
            ax.set_ylabel("x[1]")
        ax.set_xlim(float(low[0] - pad[0]), float(high[0] + pad[0]))
        ax.set_title(f"{name} (n={p.shape[0]}){shown}")
    _suptitle(fig, title, len(panels))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


def plot_density(
    log_density: torch.Tensor,
    extent: tuple[float, float, float, float],
    path: Path,
    *,
    truth: torch.Tensor | None = None,
    title: str = "",
    log_range: float = 12.0,
) -> Figure:
    """Heat maps of log p on a grid, (ny, nx) over ``extent`` = (x0, x1, y0, y1), beside the truth.

    Both panels share one colour scale, [m − log_range, m] with m the largest finite value of either,
    each with a colour bar: the log scale shows the tails a linear one hides, and values below the floor
    (down to −inf, or a likelihood's far-off outliers) take its colour instead of stretching the scale.
    NaN stays blank. Returns the figure, already written and closed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("model density", log_density)] + ([("true density", truth)] if truth is not None else [])
    values = [v.detach().cpu().double() for _, v in panels]
    finite = torch.cat([v[torch.isfinite(v)] for v in values])
    if finite.numel() == 0:
        raise ScorekitError(f"cannot draw {path}: every log-density is NaN or infinite")
    top = float(finite.max())
    floor = top - log_range
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.5), squeeze=False)
    for ax, (name, _), v in zip(axes[0], panels, values, strict=True):
        image = ax.imshow(
            v.clamp(floor, top).numpy(),
            origin="lower",
            extent=extent,
            cmap="magma",
            vmin=floor,
            vmax=top,
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=f"log p(x), floor max − {log_range:g}")
        ax.set_title(name)
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]")
        ax.set_aspect("equal", adjustable="box")
    _suptitle(fig, title, len(panels))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig


def tile_images(images: torch.Tensor, ncols: int | None = None, *, pad: int = 1) -> torch.Tensor:
    """Images (N, C, H, W) in data space [−1, 1] tiled into one picture (rows, cols, C) in [0, 1].

    A value v becomes (v + 1)/2 clipped to [0, 1]; NaN becomes 0.5. Image k sits in row k // ncols
    and column k % ncols (ncols defaults to ⌈√N⌉), framed by `pad` pixels of 0.5 gray.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3) or 0 in images.shape:
        raise ValueError(f"images must have shape (N, C, H, W) with C = 1 or 3, got shape {tuple(images.shape)}")
    num, channels, height, width = images.shape
    ncols = min(ncols or math.ceil(math.sqrt(num)), num)
    nrows = math.ceil(num / ncols)
    pixels = ((images.detach().cpu().double().nan_to_num(0.0) + 1) / 2).clamp(0, 1)
    grid = torch.full((nrows * (height + pad) + pad, ncols * (width + pad) + pad, channels), 0.5, dtype=torch.float64)
    for index, image in enumerate(pixels):
        top, left = pad + (index // ncols) * (height + pad), pad + (index % ncols) * (width + pad)
        grid[top : top + height, left : left + width] = image.permute(1, 2, 0)
    return grid


def plot_image_grid(
    images: torch.Tensor,
    path: Path,
    *,
    reference: torch.Tensor | None = None,
    title: str = "",
    ncols: int | None = None,
) -> Figure:
    """Draw ``images`` (N, C, H, W) in [−1, 1] as a grid (gray for C = 1, RGB for C = 3), beside ``reference``.

    Returns the figure, already written and closed.
    """
    panels = [("samples", images)] + ([("held-out data", reference)] if reference is not None else [])
    if not bool(torch.isfinite(images).any()):
        raise ScorekitError(f"cannot draw {path}: every sample is NaN or infinite (the sampler diverged)")
    return plot_image_panels(panels, path, title=title, ncols=ncols)


def plot_image_panels(
    panels: list[tuple[str, torch.Tensor]], path: Path, *, title: str = "", ncols: int | None = None
) -> Figure:
    """Draw each (name, images (N, C, H, W) in [−1, 1]) of ``panels`` as a grid, side by side; NaN
    pixels are drawn mid-gray (the unknown part of an inpainting's input). Returns the closed figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = [tile_images(p, ncols) for _, p in panels]
    # Enough dots per inch that every image pixel gets about one screen pixel in a 4.5-inch panel.
    dpi = min(max(110, math.ceil(max(max(g.shape[:2]) for g in grids) / 4.5)), 400)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.5), squeeze=False)
    for ax, (name, p), grid in zip(axes[0], panels, grids, strict=True):
        gray = grid.shape[2] == 1
        ax.imshow(
            grid[:, :, 0].numpy() if gray else grid.numpy(),
            cmap="gray" if gray else None,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_title(f"{name} (n={p.shape[0]})")
        ax.set_axis_off()
    _suptitle(fig, title, len(panels))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return fig


def plot_class_grid(
    samples: list[torch.Tensor], labels: torch.Tensor, scales: list[float], path: Path, *, title: str = ""
) -> Figure:
    """Class-conditional samples for each guidance scale: ``samples[i]`` (N, *event) drawn at
    ``scales[i]`` with ``labels`` (N,). Images: one grid, a row per (scale, draw), a column per class,
    in the order of ``labels``' first appearance; points: a scatter per scale, coloured by label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(dict.fromkeys(labels.tolist()))
    if samples[0].ndim == 4:
        # Reorder each scale's draws as rows of one image per class.
        order = torch.cat([torch.nonzero(labels == c).flatten() for c in classes]).reshape(len(classes), -1).T
        stacked = torch.cat([x[order.flatten()] for x in samples])
        grid = tile_images(stacked, ncols=len(classes))
        per_scale = order.shape[0]
        fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(classes) + 1.5), 0.5 * len(samples) * per_scale + 1.2))
        gray = grid.shape[2] == 1
        ax.imshow(grid[:, :, 0].numpy() if gray else grid.numpy(), cmap="gray" if gray else None, vmin=0, vmax=1)
        rows = grid.shape[0] / len(samples)
        ax.set_yticks([(i + 0.5) * rows for i in range(len(samples))], [f"w = {w:g}" for w in scales])
        ax.set_xticks([(i + 0.5) * grid.shape[1] / len(classes) for i in range(len(classes))], map(str, classes))
        ax.set_xlabel("label")
    else:
        fig, axes = plt.subplots(1, len(samples), figsize=(4.0 * len(samples), 4.2), squeeze=False)
        for ax, x, w in zip(axes[0], samples, scales, strict=True):
            points = x.reshape(x.shape[0], -1)[:, :2]
            ax.scatter(points[:, 0], points[:, 1], c=labels.numpy(), cmap="tab10", s=2, vmin=0, vmax=9)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"w = {w:g} (colour: label)")
    _suptitle(fig, title, len(samples) if samples[0].ndim != 4 else 1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig
