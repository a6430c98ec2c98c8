"""Toy 2-D samplers: shapes, determinism, and the geometry each one promises."""

from __future__ import annotations

import math

import pytest
import torch

from scorekit.data import (
    checkerboard,
    checkerboard_log_prob,
    rings,
    spirals,
    swiss_roll,
    two_moons,
)
from tests.core.data_helpers import grid, seeded

TOY_SAMPLERS = [swiss_roll, two_moons, checkerboard, rings, spirals]

# ---------------------------------------------------------------- toy samplers


@pytest.mark.parametrize("sampler", TOY_SAMPLERS)
def test_toy_samplers_shape_finite_and_deterministic(sampler) -> None:
    x = sampler(2000, seeded(13))
    assert x.shape == (2000, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.abs().max().item() < 6
    torch.testing.assert_close(x, sampler(2000, seeded(13)), rtol=0, atol=0)
    assert not torch.equal(x, sampler(2000, seeded(14)))
    torch.testing.assert_close(sampler(2000, seeded(13), dtype=torch.float64).float(), x, rtol=0, atol=0)


def test_swiss_roll_lies_on_the_roll() -> None:
    x = swiss_roll(5000, seeded(15), dtype=torch.float64, noise=0.0)
    t = 3.5 * x.norm(dim=1)
    assert t.min().item() >= 1.5 * math.pi - 1e-9 and t.max().item() <= 4.5 * math.pi + 1e-9
    torch.testing.assert_close(x, torch.stack([t * t.cos(), t * t.sin()], dim=1) / 3.5)


def test_two_moons_lie_on_their_half_circles() -> None:
    x = two_moons(5000, seeded(16), dtype=torch.float64, noise=0.0)
    on_upper = (x.norm(dim=1) - 1).abs() < 1e-9
    on_lower = ((x - torch.tensor([1.0, 0.5], dtype=torch.float64)).norm(dim=1) - 1).abs() < 1e-9
    assert (on_upper | on_lower).all()
    assert x[on_upper, 1].min().item() >= 0 and x[on_lower & ~on_upper, 1].max().item() <= 0.5
    assert on_upper.double().mean().item() == pytest.approx(0.5, abs=0.03)


def test_rings_radii_and_proportions() -> None:
    x = rings(40_000, seeded(17), dtype=torch.float64, num_rings=4, noise=0.0)
    ring = torch.round(x.norm(dim=1) / 0.75)
    torch.testing.assert_close(x.norm(dim=1), 0.75 * ring)
    fractions = torch.bincount(ring.long(), minlength=5)[1:].double() / len(x)
    torch.testing.assert_close(fractions, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64), atol=0.01, rtol=0)


def test_spirals_lie_on_two_reflected_arms() -> None:
    x = spirals(5000, seeded(18), dtype=torch.float64, noise=0.0)
    t = 3 * x.norm(dim=1)
    arm = torch.stack([-t * t.cos(), t * t.sin()], dim=1) / 3
    on_first = (x - arm).norm(dim=1) < 1e-9
    on_second = (x + arm).norm(dim=1) < 1e-9
    assert (on_first | on_second).all()
    assert on_first.double().mean().item() == pytest.approx(0.5, abs=0.03)
    assert t.max().item() <= 3 * math.pi + 1e-9


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_checkerboard_samples_have_positive_density(dtype: torch.dtype) -> None:
    x = checkerboard(20_000, seeded(19), dtype=dtype)
    assert x.dtype == dtype
    log_prob = checkerboard_log_prob(x)
    assert log_prob.dtype == dtype
    torch.testing.assert_close(
        log_prob.double(), torch.full((20_000,), -math.log(32.0), dtype=torch.float64), rtol=1e-3, atol=0
    )


def test_checkerboard_covers_black_squares_evenly() -> None:
    x = checkerboard(40_000, seeded(20), dtype=torch.float64)
    cell = torch.floor((x + 4) / 2).long()
    assert ((cell.sum(dim=1) % 2) == 0).all()
    counts = torch.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16).double() / len(x)
    black = torch.tensor([(i + j) % 2 == 0 for i in range(4) for j in range(4)])
    assert (counts[~black] == 0).all()
    assert (counts[black] - 1 / 8).abs().max().item() < 0.01


@pytest.mark.parametrize("size", [3, 4, 6])
def test_checkerboard_log_prob_integrates_to_one(size: int) -> None:
    step = 2 / 30
    mass = checkerboard_log_prob(grid(5.0, step), size=size).exp().sum().item() * step**2
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert torch.isfinite(checkerboard_log_prob(checkerboard(1000, seeded(21), size=size), size=size)).all()


def test_checkerboard_log_prob_is_minus_inf_off_the_black_squares() -> None:
    x = torch.tensor([[-3.0, -3.0], [-1.0, -3.0], [4.5, 0.0], [0.5, 0.5], [0.5, -0.5]])
    log_prob = checkerboard_log_prob(x)
    assert log_prob[0].item() == pytest.approx(-math.log(32))
    assert log_prob[3].item() == pytest.approx(-math.log(32))
    assert torch.isneginf(log_prob[[1, 2, 4]]).all()
