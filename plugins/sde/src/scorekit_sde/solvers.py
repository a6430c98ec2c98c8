"""Fixed-step SDE solvers: Euler–Maruyama and the stochastic Heun scheme."""

from __future__ import annotations

import torch

from scorekit.tensors import append_dims
from scorekit_sde.config import SDE_METHODS
from scorekit_sde.sde import SDE

__all__ = ["METHODS", "brownian_increments", "sde_step", "solve_sde"]

METHODS = SDE_METHODS


def brownian_increments(
    times: torch.Tensor,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """dW over each interval of ``times``: (len(times) − 1, *shape), entries ~ N(0, |Δt|)."""
    steps = torch.diff(times.double()).abs().sqrt().to(dtype)
    z = torch.randn((len(times) - 1, *shape), generator=generator, device=device, dtype=dtype)
    return z * steps.to(device).reshape(-1, *([1] * len(shape)))


def _g(sde: SDE, t: float, x: torch.Tensor) -> torch.Tensor:
    return append_dims(sde.diffusion(_times(t, x)), x)


def _times(t: float, x: torch.Tensor) -> torch.Tensor:
    """t for every sample as a stride-0 view, so a network embeds it once (``scorekit.nets.distinct_times``)."""
    return x.new_full((1,), t).expand(x.shape[0])


def solve_sde(
    sde: SDE,
    x0: torch.Tensor,
    times: torch.Tensor,
    *,
    method: str = "euler_maruyama",
    dw: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x(times[-1]) from x(times[0]) = x0 along ``times`` (increasing or decreasing), one step per interval.

    Euler–Maruyama: x ← x + f(x, t)Δt + g(t)ΔW — strong order ½ in general, 1 for additive noise
    (g independent of x, as here); weak order 1. Heun: the trapezoidal rule on the drift and on g
    over the same ΔW, strong order 1 and weak order 2 for additive noise. ``dw`` gives the Brownian
    increments (``brownian_increments``), so several step sizes can share one path; otherwise they
    are drawn from ``generator``. Integrating backward in time needs the reverse SDE's drift.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if dw is None:
        dw = brownian_increments(times, tuple(x0.shape), generator=generator, device=x0.device, dtype=x0.dtype)
    if dw.shape != (len(times) - 1, *x0.shape):
        raise ValueError(f"dw must have shape {(len(times) - 1, *x0.shape)}, got {tuple(dw.shape)}")
    grid = times.double().tolist()
    x = x0.clone()
    for k in range(len(grid) - 1):
        x = sde_step(sde, x, grid[k], grid[k + 1], dw[k], method=method)
    return x


def sde_step(sde: SDE, x: torch.Tensor, t: float, t_next: float, dw: torch.Tensor, *, method: str) -> torch.Tensor:
    """One step of ``method`` from time t to t_next (either direction) with Brownian increment ``dw``."""
    h = t_next - t
    t_batch = _times(t, x)
    f = sde.drift(x, t_batch)
    g = _g(sde, t, x)
    if method == "euler_maruyama":
        return x + f * h + g * dw
    g_next = _g(sde, t_next, x)
    predictor = x + f * h + g * dw
    f_next = sde.drift(predictor, _times(t_next, x))
    return x + 0.5 * (f + f_next) * h + 0.5 * (g + g_next) * dw
