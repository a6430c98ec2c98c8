"""Pictures: image grids tile exactly, and the PNG shows the images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scorekit.errors import ScorekitError
from scorekit.plotting import plot_image_grid, tile_images


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
