"""PNG pictures of samples (matplotlib, headless)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from scorekit.errors import ScorekitError

__all__ = ["plot_density", "plot_image_grid", "plot_samples", "tile_images"]


def plot_samples(samples: torch.Tensor, path: Path, *, reference: torch.Tensor | None = None, title: str = "") -> None:
    """Scatter the first two coordinates of ``samples`` (N, d), beside ``reference`` data if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("samples", samples)] + ([("held-out data", reference)] if reference is not None else [])
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
        else:
            ax.scatter(p[:, 0].numpy(), p[:, 1].numpy(), s=1.5, alpha=0.4, linewidths=0)
            ax.set_ylim(float(low[1] - pad[1]), float(high[1] + pad[1]))
            ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(float(low[0] - pad[0]), float(high[0] + pad[0]))
        ax.set_title(f"{name} (n={p.shape[0]})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_density(
    log_density: torch.Tensor,
    extent: tuple[float, float, float, float],
    path: Path,
    *,
    truth: torch.Tensor | None = None,
    title: str = "",
) -> None:
    """Heat maps of exp(log-density) on a grid, (ny, nx) over ``extent`` = (x0, x1, y0, y1), beside the truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("model density", log_density)] + ([("true density", truth)] if truth is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.5), squeeze=False)
    for ax, (name, values) in zip(axes[0], panels, strict=True):
        ax.imshow(values.exp().numpy(), origin="lower", extent=extent, cmap="magma", interpolation="nearest")
        ax.set_title(name)
        ax.set_aspect("equal", adjustable="box")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
) -> None:
    """Draw ``images`` (N, C, H, W) in [−1, 1] as a grid (gray for C = 1, RGB for C = 3), beside ``reference``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("samples", images)] + ([("held-out data", reference)] if reference is not None else [])
    if not bool(torch.isfinite(images).any()):
        raise ScorekitError(f"cannot draw {path}: every sample is NaN or infinite (the sampler diverged)")
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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
