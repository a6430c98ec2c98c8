"""Discretizations of a schedule's range into sampling steps, chosen by name.

A sampler that walks a schedule from noisy to clean can be given its grid instead of taking the
schedule's own levels: ``make_grid(schedule, "karras", 18)``. Every grid runs from the noisiest
level ``levels()[0]`` to the cleanest ``levels()[-1]`` (both included), in the schedule's own t,
through the noise-to-signal ratio σ(t) = s(t)/a(t) and its inverse
:meth:`NoiseSchedule.t_of_sigma`:

==============  =================================================================================
``levels``      the schedule's own levels, evenly spaced by index (all when ``num`` ≥ their count)
``uniform``     uniform in t (continuous schedules)
``karras``      σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, ρ = 7 (Karras et al.
                2022, eq. 5)
``logsnr``      uniform in log-SNR λ = −2 log σ (Lu et al. 2022's choice for DPM-Solver)
``quadratic``   t = t_min + (t_max − t_min)·u², u uniform in [0, 1]: denser near the data (Song,
                Meng & Ermon 2021's "quad" spacing)
==============  =================================================================================

On a discrete schedule (DDPM's chain) the model is defined only at its levels: every grid but
``levels`` lands each point on the level nearest in log σ and drops repeats, so it may return
fewer than ``num`` points.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from scorekit.errors import ConfigError, UserError

if TYPE_CHECKING:  # torch-free at import: plugins' config classes read GRIDS at discovery
    import torch

    from scorekit.interfaces.noise_schedule import NoiseSchedule

__all__ = ["GRIDS", "make_grid", "sigma_of", "start_grid"]

GRIDS = ("levels", "uniform", "karras", "logsnr", "quadratic")


def sigma_of(schedule: NoiseSchedule, t: torch.Tensor) -> torch.Tensor:
    """The noise-to-signal ratio σ(t) = s(t)/a(t), float64 of t's shape: what a σ-based sampler steps in."""
    a, s = schedule.kernel(t.double())
    return s.double() / a.double()


def make_grid(schedule: NoiseSchedule, name: str, num: int, *, rho: float = 7.0) -> torch.Tensor:
    """``num`` times (float64, noisiest first, both ends of the range included) of grid ``name``."""
    import torch

    from scorekit.interfaces.noise_schedule import select_levels

    if name not in GRIDS:
        raise ConfigError(f"unknown grid {name!r}; expected one of {', '.join(GRIDS)}")
    if num < 1:
        raise ConfigError(f"a grid needs at least one point, got {num}")
    levels = schedule.levels().double()
    if name == "levels":
        return select_levels(levels, num)
    t_max, t_min = float(levels[0]), float(levels[-1])
    if num == 1:
        return levels[:1]
    u = torch.linspace(0.0, 1.0, num, dtype=torch.float64)
    if name == "uniform" or name == "quadratic":
        if not schedule.continuous:
            raise ConfigError(
                f"a {name} grid in t needs a continuous schedule; {type(schedule).__name__} is defined only at "
                "its levels (use levels, karras or logsnr)"
            )
        if name == "uniform":
            return t_max + (t_min - t_max) * u
        return t_min + (t_max - t_min) * (1.0 - u).square()
    ends = sigma_of(schedule, torch.tensor([t_max, t_min], dtype=torch.float64))
    sigma_max, sigma_min = float(ends[0]), float(ends[1])
    if name == "karras":
        sigmas = (sigma_max ** (1 / rho) + u * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    else:  # logsnr: λ = −2 log σ uniform
        log_max, log_min = math.log(sigma_max), math.log(sigma_min)
        sigmas = torch.exp(log_max + u * (log_min - log_max))
    t = schedule.t_of_sigma(sigmas)
    t[0], t[-1] = t_max, t_min  # the ends exactly, whatever the inverse's rounding
    if not schedule.continuous:
        t = torch.unique_consecutive(t)
    return t


def start_grid(grid: torch.Tensor, t: float, schedule: NoiseSchedule) -> torch.Tensor:
    """The times a sampler started at ``t`` walks: ``t`` itself, then the points of ``grid`` (noisiest
    first) below it. ``t`` must lie in (grid[-1], grid[0]]; on a discrete schedule it must be one of
    the schedule's levels (the model is defined only there). A UserError in one line otherwise."""
    import torch

    first, last = float(grid[0]), float(grid[-1])
    if not (math.isfinite(t) and last < t <= first * (1 + 1e-9) + 1e-12):
        raise UserError(f"a start at t = {t:.6g} must lie in this sampler's range ({last:.6g}, {first:.6g}]")
    if not schedule.continuous:
        levels = schedule.levels().double()
        if not bool((levels - t).abs().min() <= 1e-9 * max(1.0, abs(t))):
            raise UserError(
                f"{type(schedule).__name__} is defined only at its levels ({float(levels[-1]):g} to "
                f"{float(levels[0]):g}): start at one of them, not at t = {t:.6g}"
            )
    below = grid[grid < t * (1 - 1e-9) - 1e-12]
    return torch.cat([grid.new_tensor([min(t, first)]), below])
