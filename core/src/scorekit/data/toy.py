"""Two-dimensional toy distributions for score-based models.

Every sampler has the signature f(n, generator=None, dtype=torch.float32, **shape)
and returns an (n, 2) tensor. Randomness is drawn in float64 from `generator` (on
its device) and cast at the end, so a seeded generator gives the same points in
every dtype. Points are i.i.d. draws: which arm, moon or ring a point lies on is
itself random, so any prefix of a sample is a sample too.

The shapes follow the usual benchmarks of the normalizing-flow and diffusion
literature (e.g. Grathwohl et al. 2019, FFJORD), all scaled to roughly [-4, 4]².
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from scorekit.data.mixture import _generator_device, _sample_count

__all__ = ["checkerboard", "checkerboard_log_prob", "rings", "spirals", "swiss_roll", "two_moons"]

# Half the side of the square board [-4, 4]² the checkerboard lives on.
_BOARD_HALF_WIDTH = 4.0


def _uniform(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64, device=_generator_device(generator))


def _normal(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.randn(n, 2, generator=generator, dtype=torch.float64, device=_generator_device(generator))


def swiss_roll(
    n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32, noise: float = 0.25
) -> Tensor:
    """The swiss roll of sklearn's make_swiss_roll, seen from above: its (x, z) coordinates.

    t ~ U[1.5π, 4.5π] and the point is (t cos t, t sin t) / 3.5, which puts the
    outer end at radius ≈ 4; then isotropic Gaussian noise of std `noise` (in these
    output units) is added.
    """
    n = _sample_count(n)
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, generator))
    x = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 3.5
    return (x + noise * _normal(n, generator)).to(dtype)


def two_moons(
    n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32, noise: float = 0.05
) -> Tensor:
    """The two interleaved half circles of sklearn's make_moons, each chosen with probability 1/2.

    Upper moon (cos θ, sin θ), lower moon (1 − cos θ, 1/2 − sin θ), θ ~ U[0, π], plus
    isotropic Gaussian noise of std `noise`. The points span about [-1, 2] × [-0.5, 1].
    """
    n = _sample_count(n)
    theta = math.pi * _uniform(n, generator)
    lower = _uniform(n, generator) < 0.5
    upper_moon = torch.stack([theta.cos(), theta.sin()], dim=1)
    lower_moon = torch.stack([1 - theta.cos(), 0.5 - theta.sin()], dim=1)
    x = torch.where(lower[:, None], lower_moon, upper_moon)
    return (x + noise * _normal(n, generator)).to(dtype)


def _black_cells(size: int) -> Tensor:
    """(column, row) indices of the black cells, those with column + row even; shape (M, 2)."""
    index = torch.arange(size)
    cells = torch.cartesian_prod(index, index)
    return cells[cells.sum(dim=1) % 2 == 0]


def _cell_width(size: int) -> float:
    if size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    return 2 * _BOARD_HALF_WIDTH / size


def _cell_of(x: Tensor, size: int) -> Tensor:
    """(column, row) cell index of each point, in float64; may fall outside [0, size)."""
    return torch.floor((x.double() + _BOARD_HALF_WIDTH) / _cell_width(size))


def checkerboard(
    n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32, size: int = 4
) -> Tensor:
    """Uniform on the black squares of a size × size checkerboard covering [-4, 4]².

    The cell in column i and row j (counted from the bottom-left corner) is black
    when i + j is even; its exact density is `checkerboard_log_prob`.
    """
    n = _sample_count(n)
    width = _cell_width(size)
    device = _generator_device(generator)
    black = _black_cells(size).to(device)
    cell = black[torch.randint(len(black), (n,), generator=generator, device=device)].double()
    corner = -_BOARD_HALF_WIDTH + width * cell
    offset = width * torch.rand(n, 2, generator=generator, dtype=torch.float64, device=device)
    x = (corner + offset).to(dtype)
    # Rounding to a coarser dtype can land a point on the edge of its cell or just past
    # it, on a white square of zero density; one ulp towards the cell centre puts it back.
    outside = (_cell_of(x, size) != cell).any(dim=1, keepdim=True)
    centre = (corner + width / 2).to(dtype)
    return torch.where(outside, torch.nextafter(x, centre), x)


def checkerboard_log_prob(x: Tensor, size: int = 4) -> Tensor:
    """Exact log density of `checkerboard`: −log(area of the black squares) on them, −inf elsewhere.

    Cells are half-open, [a, a + w) in each coordinate, so every point of the plane
    belongs to exactly one cell. Shape (n,), dtype of x.
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got shape {tuple(x.shape)}")
    cell = _cell_of(x, size)
    on_board = ((cell >= 0) & (cell < size)).all(dim=1)
    black = cell.sum(dim=1) % 2 == 0
    black_area = len(_black_cells(size)) * _cell_width(size) ** 2
    inside = torch.full_like(x[:, 0], -math.log(black_area))
    return torch.where(on_board & black, inside, torch.full_like(inside, -math.inf))


def rings(
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    num_rings: int = 4,
    noise: float = 0.08,
) -> Tensor:
    """Concentric circles with radii 3j / num_rings, j = 1..num_rings, plus Gaussian noise.

    A point lies on ring j with probability proportional to its circumference, i.e.
    to j, so the density along every ring is the same; its angle is uniform.
    """
    n = _sample_count(n)
    if num_rings < 1:
        raise ValueError(f"num_rings must be a positive integer, got {num_rings}")
    device = _generator_device(generator)
    ring = torch.arange(1, num_rings + 1, dtype=torch.float64, device=device)
    chosen = ring[torch.multinomial(ring, n, replacement=True, generator=generator)]
    radius = 3.0 * chosen / num_rings
    angle = 2 * math.pi * _uniform(n, generator)
    x = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
    return (x + noise * _normal(n, generator)).to(dtype)


def spirals(
    n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32, noise: float = 0.1
) -> Tensor:
    """Two interleaved Archimedean spirals, one the point reflection of the other.

    t = 3π·√u with u ~ U[0, 1] and the point is ±(−t cos t, t sin t) / 3, sign ±
    equally likely: the √u makes the density along each arm roughly uniform in arc
    length (which grows like t²). The arms make 1.5 turns and end at radius π. Then
    isotropic Gaussian noise of std `noise` is added.
    """
    n = _sample_count(n)
    t = 3 * math.pi * _uniform(n, generator).sqrt()
    sign = torch.where(_uniform(n, generator) < 0.5, -1.0, 1.0).double()
    x = (sign / 3)[:, None] * torch.stack([-t * t.cos(), t * t.sin()], dim=1)
    return (x + noise * _normal(n, generator)).to(dtype)
