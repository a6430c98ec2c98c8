"""Grids by name over a schedule's range, and the σ → t inverse they stand on."""

from __future__ import annotations

import math

import pytest
import torch

from scorekit import load_registry
from scorekit.errors import ConfigError
from scorekit.grids import GRIDS, make_grid, sigma_of
from scorekit.interfaces import NoiseSchedule, ScoreModel


def _schedule(name: str, **options: object) -> NoiseSchedule:
    entry = load_registry().get("schedule", name)
    return entry.build(entry.config(**options))


@pytest.mark.parametrize("name", ["ve", "vp", "subvp", "ou", "geometric"])
def test_t_of_sigma_inverts_the_noise_to_signal_ratio(name: str) -> None:
    """Closed forms (ve, vp, subvp, σ schedules) and the default bisection (ou) agree with σ(t) to ~1e-12."""
    schedule = _schedule(name)
    levels = schedule.levels().double()
    t = torch.linspace(float(levels[-1]), float(levels[0]), 101, dtype=torch.float64)
    sigma = sigma_of(schedule, t)
    assert torch.allclose(schedule.t_of_sigma(sigma), t, rtol=1e-10, atol=1e-12)
    # The closed form and the generic solve give the same t.
    assert torch.allclose(NoiseSchedule.t_of_sigma(schedule, sigma), t, rtol=1e-10, atol=1e-12)


def test_the_named_grids_follow_their_formulas() -> None:
    schedule = _schedule("vp")
    levels = schedule.levels().double()
    t_max, t_min = float(levels[0]), float(levels[-1])
    ends = sigma_of(schedule, torch.tensor([t_max, t_min], dtype=torch.float64))
    sigma_max, sigma_min = float(ends[0]), float(ends[1])
    n, rho = 12, 7.0
    for name in GRIDS:
        grid = make_grid(schedule, name, n)
        assert grid.dtype == torch.float64 and (float(grid[0]), float(grid[-1])) == (t_max, t_min), name
        assert bool((grid[1:] < grid[:-1]).all()), name  # noisiest first, strictly
    i = torch.arange(n, dtype=torch.float64) / (n - 1)
    karras = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    assert torch.allclose(sigma_of(schedule, make_grid(schedule, "karras", n)), karras, rtol=1e-9)
    log_snr = -2 * sigma_of(schedule, make_grid(schedule, "logsnr", n)).log()
    assert torch.allclose(log_snr.diff(), log_snr.diff()[:1].expand(n - 1), rtol=1e-8)
    assert torch.allclose(
        make_grid(schedule, "uniform", n).diff(), torch.full((n - 1,), (t_min - t_max) / (n - 1), dtype=torch.float64)
    )
    quadratic = make_grid(schedule, "quadratic", n)
    assert torch.allclose(quadratic, t_min + (t_max - t_min) * (1 - i).square())
    assert torch.equal(make_grid(schedule, "levels", n), levels[torch.linspace(0, len(levels) - 1, n).round().long()])


def test_a_discrete_chain_gets_its_nearest_levels_and_refuses_grids_in_t() -> None:
    schedule = _schedule("cosine", num_steps=1000)
    levels = schedule.levels().double()
    grid = make_grid(schedule, "karras", 30)
    assert set(grid.tolist()) <= set(levels.tolist()) and len(grid) <= 30
    assert bool((grid[1:] < grid[:-1]).all())
    with pytest.raises(ConfigError, match="needs a continuous schedule"):
        make_grid(schedule, "uniform", 10)
    with pytest.raises(ConfigError, match="unknown grid 'karas'"):
        make_grid(schedule, "karas", 10)


def test_the_reverse_sde_walks_a_named_grid_and_counts_its_evaluations() -> None:
    """Exact scores of N(0, c²I) under VE: on a Karras grid the reverse SDE keeps the data's variance."""
    from scorekit.engine.sampling import sample_in_chunks

    schedule = _schedule("ve", sigma_max=10.0)
    entry = load_registry().get("sampler", "reverse_sde")
    sampler = entry.build(entry.config(steps=60, grid="karras"))
    c = 0.8

    class Exact(ScoreModel):
        """The exact score of N(0, c²I) perturbed by the kernel, counting its evaluations."""

        calls = 0

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            a, s = schedule.kernel(t)
            return -x / (c**2 * a.square() + s.square())[:, None]

    model = Exact()
    model.bind((2,))
    x = sample_in_chunks(
        sampler,
        model,
        20000,
        (2,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=20000,
    ).double()
    assert model.calls == sampler.num_evaluations(schedule) == 61  # 60 steps + the final denoising
    assert float(x.std()) == pytest.approx(c, rel=0.05)
    assert math.isfinite(float(x.mean()))
