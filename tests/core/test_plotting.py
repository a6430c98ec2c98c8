"""Pictures: image grids tile exactly and the PNG shows the images; scatter plots and density maps say
what they show (axis labels, dimensions, one clipped log colour scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scorekit.data import eight_gaussians
from scorekit.errors import ScorekitError
from scorekit.plotting import plot_density, plot_image_grid, plot_samples, tile_images


def test_tile_images_places_every_image() -> None:
    images = torch.linspace(-1, 1, 5 * 2 * 3).reshape(5, 1, 2, 3)
    grid = tile_images(images, pad=1)
    # ⌈√5⌉ = 3 columns, 2 rows; each cell 2×3 plus a 1-pixel frame.
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    for index in range(5):
        top, left = 1 + (index // 3) * 3, 1 + (index % 3) * 4
        torch.testing.assert_close(grid[top : top + 2, left : left + 3, 0], (images[index, 0].double() + 1) / 2)
    assert (grid[4:6, 9:12] == 0.5).all(), "the empty sixth cell stays gray"
    assert (grid[0] == 0.5).all() and (grid[:, 0] == 0.5).all()
    assert tile_images(images, ncols=5).shape == (2 + 2, 5 * 4 + 1, 1)


def test_tile_images_clips_and_keeps_colour_order() -> None:
    rgb = torch.tensor([[[[2.0]], [[-3.0]], [[0.0]]], [[[float("nan")]], [[float("inf")]], [[-0.5]]]])
    grid = tile_images(rgb, ncols=2, pad=0)
    assert grid.shape == (1, 2, 3)
    torch.testing.assert_close(grid[0, 0], torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(grid[0, 1], torch.tensor([0.5, 1.0, 0.25], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"C = 1 or 3, got shape \(2, 2, 4, 4\)"):
        tile_images(torch.zeros(2, 2, 4, 4))


def test_plot_image_grid_writes_the_images(tmp_path: Path) -> None:
    # Four 8×8 images: one white, three black, on a gray frame.
    images = -torch.ones(4, 1, 8, 8)
    images[0] = 1.0
    plot_image_grid(images, tmp_path / "grid.png", title="four")
    picture = np.asarray(Image.open(tmp_path / "grid.png").convert("L"))
    assert picture.shape == (495, 495)  # 4.5 inches at 110 dots per inch
    white, black = (picture == 255).sum(), (picture == 0).sum()
    # Each image covers about (8/17 of the ~400-pixel-wide axes)² pixels; three black, one white
    # (the white page around the axes adds white pixels, so only a lower bound there).
    assert 2.5 * 150**2 < black < 3.5 * 200**2
    assert white > 150**2
    plot_image_grid(images, tmp_path / "both.png", reference=images.flip(0).expand(-1, 3, -1, -1), ncols=4)
    both = np.asarray(Image.open(tmp_path / "both.png").convert("RGB"))
    assert both.shape == (495, 990, 3)
    with pytest.raises(ScorekitError, match="every sample is NaN or infinite"):
        plot_image_grid(torch.full((2, 1, 4, 4), float("nan")), tmp_path / "nan.png")


def test_plot_samples_labels_the_axes_and_names_the_dimensions_shown(tmp_path: Path) -> None:
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    title = "standard_normal · ncsn_mlp · annealed_langevin · 300 samples · step 8000"
    fig = plot_samples(x, tmp_path / "16.png", reference=x[:100], title=title)
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [("x[0]", "x[1]"), ("x[0]", "x[1]")]
    assert [ax.get_title() for ax in fig.axes] == [
        "samples (n=300), dims 0–1 of 16",
        "held-out data (n=100), dims 0–1 of 16",
    ]
    # Two panels hold the whole title on one line.
    assert fig.get_suptitle() == title
    narrow = plot_samples(x[:, :2], tmp_path / "2.png", title=title)
    assert narrow.axes[0].get_title() == "samples (n=300)"
    # One panel breaks it at a separator, every line within 45 characters.
    lines = narrow.get_suptitle().splitlines()
    assert " · ".join(lines) == title and len(lines) > 1 and all(len(line) <= 45 for line in lines)
    histogram = plot_samples(x[:, :1], tmp_path / "1.png")
    assert histogram.axes[0].get_xlabel() == "x" and len(histogram.axes[0].patches) == 100


def test_plot_density_shares_one_clipped_log_scale(tmp_path: Path) -> None:
    xs = torch.linspace(-6, 6, 40, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1).reshape(-1, 2)
    truth = eight_gaussians().log_prob(grid).reshape(40, 40)
    model = eight_gaussians().log_prob(grid, sigma=0.5).reshape(40, 40)
    model[0, 0], model[0, 1] = float("-inf"), float("nan")
    fig = plot_density(model, (-6.0, 6.0, -6.0, 6.0), tmp_path / "d.png", truth=truth, title="t")
    top = float(torch.maximum(truth.max(), model.nan_to_num(-1e9).max()))
    panels = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == len(colour_bars) == 2
    assert all(ax.get_ylabel().startswith("log p(x)") for ax in colour_bars)
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x[0]", "x[1]")
        assert ax.images[0].get_clim() == pytest.approx((top - 12, top))
    shown = panels[0].images[0].get_array()
    # −inf takes the floor's colour; NaN is masked (drawn blank); values in range are unchanged.
    assert shown[0, 0] == pytest.approx(top - 12) and np.ma.getmaskarray(shown)[0, 1]
    # The truth is the sharper density: its peak sets the top of both panels' scales.
    assert float(shown.min()) == pytest.approx(top - 12) and float(shown.max()) < top - 1
    assert shown[20, 20] == pytest.approx(max(float(model[20, 20]), top - 12))
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ScorekitError, match="every log-density is NaN or infinite"):
        plot_density(torch.full((3, 3), float("nan")), (0.0, 1.0, 0.0, 1.0), tmp_path / "nan.png")
