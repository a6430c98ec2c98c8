"""PNG pictures of samples (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import torch

from scorekit.errors import ScorekitError

__all__ = ["plot_density", "plot_samples"]


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
