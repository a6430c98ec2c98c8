"""The forward process as pictures: eight_gaussians and 8×8 digits from data to noise over t.

Draws x_t ~ q(x_t ∣ x₀) = N(√ᾱ_t·x₀, (1 − ᾱ_t)·I) in closed form, in model space (the points
standardized as the preset does, the digits in [−1, 1]), with the presets' schedules (linear β
for the points, cosine for the digits) at a few steps t, plus ᾱ_t of both schedules. Writes
``benchmarks/results/ddpm_forward.png`` (used by docs/ddpm.md). A few seconds.
"""

from __future__ import annotations

from pathlib import Path

import torch

from scorekit.data import eight_gaussians
from scorekit.data.images import load_digits
from scorekit.plotting import tile_images
from scorekit_ddpm.config import CosineScheduleConfig, LinearScheduleConfig
from scorekit_ddpm.schedules import CosineSchedule, LinearSchedule

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = (0, 100, 250, 500, 750, 999)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generator = torch.Generator().manual_seed(0)
    linear = LinearSchedule(LinearScheduleConfig())
    cosine = CosineSchedule(CosineScheduleConfig())
    points = eight_gaussians().sample(2000, generator=generator).float()
    points = (points - points.mean(0)) / points.var(0).mean().sqrt()  # the preset's "scalar" standardization
    images = torch.from_numpy(load_digits()[:8])
    fig, axes = plt.subplots(3, len(STEPS), figsize=(2.3 * len(STEPS), 7.4))
    for column, t in enumerate(STEPS):
        x_t, _ = linear.perturb(points, torch.full((len(points),), float(t)), generator=generator)
        ax = axes[0, column]
        ax.scatter(x_t[:, 0], x_t[:, 1], s=1, alpha=0.4, linewidths=0)
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-3.5, 3.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"t = {t}, ᾱ = {float(linear.alpha_bars[t]):.3g}", fontsize=9)
        y_t, _ = cosine.perturb(images, torch.full((len(images),), float(t)), generator=generator)
        tiles = tile_images(y_t, ncols=2)
        ax = axes[1, column]
        ax.imshow(tiles[..., 0] if tiles.shape[-1] == 1 else tiles, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"digits, ᾱ = {float(cosine.alpha_bars[t]):.3g}", fontsize=9)
    for ax in axes[2]:
        ax.remove()
    ax = fig.add_subplot(3, 1, 3)
    steps = torch.arange(linear.num_steps)
    ax.plot(steps, linear.alpha_bars, label="linear β (Ho et al. 2020)")
    ax.plot(steps, cosine.alpha_bars, label="cosine (Nichol & Dhariwal 2021)")
    ax.set_xlabel("t")
    ax.set_ylabel("ᾱ_t")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.suptitle("the forward process q(x_t ∣ x₀): eight_gaussians (linear β) and digits (cosine)")
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "ddpm_forward.png", dpi=100)
    print(f"wrote {RESULTS / 'ddpm_forward.png'}")


if __name__ == "__main__":
    main()
