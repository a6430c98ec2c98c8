"""The explicit Runge–Kutta machinery shared by every solver of this plugin.

The state is y (any shape) plus optional quadrature variables q whose derivative dq/dt = g(t, y)
never feeds back into the dynamics (a CNF's log-density, the adjoint's parameter gradient). RK stages
are formed for y only; q is summed with the weights b at the end of a step, and enters the step-size
control only when ``quadrature_error`` is set (off = the seminorm of Kidger, Chen & Lyons 2021).

Time: where no gradient with respect to the output times is wanted, times are Python floats and the
step control never touches a tensor; otherwise they are 0-dim tensors so that backpropagation through
the steps reaches ``t``. The step-size control itself (the error ratio, the choice of h) is never
differentiated: gradients are those of the discrete solution on the steps that were taken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from scorekit.errors import SolverError
from scorekit.interfaces import SolveStats
from scorekit_adjoint_ode.tableaus import Tableau

__all__ = ["Evaluator", "Norm", "rms_norm", "solve_adaptive", "solve_fixed"]

Time = Any  # float, or a 0-dim tensor when gradients with respect to t are wanted
#: ev(t, y) -> (dy/dt, dq/dt or None); counts its own calls.
Evaluator = Callable[[Time, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
Norm = Callable[[torch.Tensor], torch.Tensor]


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """√(mean x²): the error norm of torchdiffeq, SciPy and Hairer–Wanner."""
    return torch.linalg.vector_norm(x) / math.sqrt(max(x.numel(), 1))


def combine(base: torch.Tensor | None, ks: Sequence[torch.Tensor], weights: Sequence[float], h: Time) -> Any:
    """base + h·Σ_j w_j k_j, skipping zero weights; one fresh tensor accumulated in place for a float h."""
    if isinstance(h, float):
        out: torch.Tensor | None = None
        for k, w in zip(ks, weights, strict=False):
            if w == 0.0:
                continue
            if out is None:
                out = k * (w * h) if base is None else torch.add(base, k, alpha=w * h)
            else:
                out.add_(k, alpha=w * h)
        if out is None:
            return torch.zeros_like(ks[0]) if base is None else base
        return out
    terms = [k * w for k, w in zip(ks, weights, strict=False) if w != 0.0]
    total = h * torch.stack(terms).sum(0) if terms else torch.zeros_like(ks[0])
    return total if base is None else base + total


def rk_stages(
    ev: Evaluator, tab: Tableau, t: Time, h: Time, y: torch.Tensor, f: torch.Tensor, qf: torch.Tensor | None
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor | None]]:
    """One step's stages from (t, y) with first stage f; returns (y₁, ks, quadrature ks)."""
    ks: list[torch.Tensor] = [f]
    qks: list[torch.Tensor | None] = [qf]
    yi = y
    for i in range(1, tab.stages):
        yi = combine(y, ks, tab.a[i], h)
        ki, qi = ev(t + tab.c[i] * h, yi)
        ks.append(ki)
        qks.append(qi)
    y1 = yi if tab.fsal else combine(y, ks, tab.b, h)
    return y1, ks, qks


def _interpolate(
    tab: Tableau, y0: torch.Tensor, y1: torch.Tensor, ks: Sequence[torch.Tensor], h: Time, theta: Time
) -> torch.Tensor:
    """Dense output at t₀ + θh: Shampine's quartic for Dormand–Prince, cubic Hermite otherwise."""
    f0, f1 = ks[0], ks[-1]
    if tab.mid is not None:
        y_mid = combine(y0, ks, tab.mid, h)
        a = 2 * h * (f1 - f0) - 8 * (y1 + y0) + 16 * y_mid
        b = h * (5 * f0 - 3 * f1) + 18 * y0 + 14 * y1 - 32 * y_mid
        c = h * (f1 - 4 * f0) - 11 * y0 - 5 * y1 + 16 * y_mid
        d = h * f0
        return y0 + theta * (d + theta * (c + theta * (b + theta * a)))
    t2, t3 = theta * theta, theta * theta * theta
    return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + theta) * h * f0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * h * f1


def _check_state(name: str, t: float, y: torch.Tensor, q: torch.Tensor | None) -> None:
    if not bool(torch.isfinite(y).all()) or (q is not None and not bool(torch.isfinite(q).all())):
        raise SolverError(f"{name}: the state became non-finite (NaN or inf) at t = {t:.6g}")


def solve_fixed(
    ev: Evaluator,
    tab: Tableau,
    y0: torch.Tensor,
    q0: torch.Tensor | None,
    times: Sequence[Time],
    steps: Sequence[int],
    stats: SolveStats,
    name: str,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """``steps[i]`` equal steps from times[i] to times[i+1]; every output time is hit exactly."""
    ys, qs = [y0], ([q0] if q0 is not None else None)
    y, q = y0, q0
    for i, n in enumerate(steps):
        start = times[i]
        h = (times[i + 1] - start) / n
        for j in range(n):
            t = start if j == 0 else start + j * h
            f, qf = ev(t, y)
            y, _, qks = rk_stages(ev, tab, t, h, y, f, qf)
            if q is not None:
                q = combine(q, qks, tab.b, h)  # type: ignore[arg-type]
            stats.accepted += 1
        _check_state(name, float(times[i + 1]), y, q)
        ys.append(y)
        if qs is not None:
            qs.append(q)  # type: ignore[arg-type]
    return ys, qs


def solve_adaptive(
    ev: Evaluator,
    tab: Tableau,
    y0: torch.Tensor,
    q0: torch.Tensor | None,
    times: Sequence[Time],
    *,
    rtol: float,
    atol: float,
    first_step: float | None,
    min_step: float,
    max_step: float,
    max_steps: int,
    safety: float,
    ifactor: float,
    dfactor: float,
    norm_y: Norm = rms_norm,
    norm_q: Norm = rms_norm,
    quadrature_error: bool = True,
    stats: SolveStats,
    name: str,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Adaptive steps with an embedded error estimate; outputs inside a step by dense interpolation.

    The step size follows h ← h·min(ifactor, max(dfactor, safety·r^(−1/p))) with r the error ratio
    ‖err / (atol + rtol·max(|y₀|, |y₁|))‖ (never shrinking after an accepted step), as in Hairer &
    Wanner and torchdiffeq; the last step is shortened to land on the final time exactly.
    """
    if tab.error is None or not tab.fsal:
        raise ValueError(f"{tab.name} has no embedded FSAL error estimate")
    tf = [float(x.detach()) if isinstance(x, torch.Tensor) else float(x) for x in times]
    n = len(times)
    direction = 1.0 if tf[-1] > tf[0] else -1.0
    ys, qs = [y0], ([q0] if q0 is not None else None)
    use_q = q0 is not None
    t, t_obj, y, q = tf[0], times[0], y0, q0
    f, qf = ev(t_obj, y)
    span = abs(tf[-1] - tf[0])

    def error_ratio(e_y: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, norm: Norm) -> torch.Tensor:
        tol = torch.maximum(y_a.abs(), y_b.abs()).mul_(rtol).add_(atol)
        return norm(e_y.div_(tol))

    if first_step is None:
        with torch.no_grad():
            h = _initial_step(
                ev,
                t_obj,
                y,
                f,
                q,
                qf,
                direction,
                span,
                tab.order,
                rtol,
                atol,
                norm_y,
                norm_q,
                use_q and quadrature_error,
            )
    else:
        h = first_step
    h = min(h, max_step, span)
    idx, taken, rejected_nonfinite = 1, 0, False
    while idx < n:
        if taken >= max_steps:
            raise SolverError(
                f"{name} took max_steps = {max_steps} steps from t = {tf[0]:.6g} to t = {t:.6g} without reaching "
                f"t = {tf[-1]:.6g} (last step size {h:.3g}); the dynamics may be stiff or blowing up: raise "
                "max_steps, loosen rtol/atol, or use a fixed-step solver"
            )
        remaining = tf[-1] - t
        last = h >= abs(remaining)
        if last:
            h_signed, t_next, t_next_obj = remaining, tf[-1], times[-1]
            h_obj = times[-1] - t_obj
        else:
            if h < min_step:
                cause = " after a non-finite state" if rejected_nonfinite else ""
                raise SolverError(
                    f"{name}: the step size fell to {h:.3g}, below min_step = {min_step:.3g}, at t = {t:.6g}{cause}; "
                    "the dynamics may be stiff or discontinuous: lower min_step, loosen rtol/atol, or use a "
                    "fixed-step solver"
                )
            h_signed = direction * h
            t_next = t + h_signed
            t_next_obj = t_obj + h_signed
            h_obj = h_signed
        if t_next == t:
            raise SolverError(
                f"{name}: the step size underflowed at t = {t:.6g}"
                + (" (the state became non-finite)" if rejected_nonfinite else "")
            )
        y1, ks, qks = rk_stages(ev, tab, t_obj, h_obj, y, f, qf)
        taken += 1
        # q₁ once, with its graph when backpropagating through the steps; the error never has one.
        q1 = combine(q, qks, tab.b, h_obj) if use_q else None  # type: ignore[arg-type]
        with torch.no_grad():
            ratio_t = error_ratio(combine(None, ks, tab.error, h_signed), y, y1, norm_y)
            if use_q and quadrature_error:
                e_q = combine(None, qks, tab.error, h_signed)  # type: ignore[arg-type]
                ratio_t = torch.maximum(ratio_t, error_ratio(e_q, q, q1, norm_q))  # type: ignore[arg-type]
            ratio = float(ratio_t)
        if not math.isfinite(ratio):
            rejected_nonfinite, ratio = True, math.inf
        if ratio <= 1.0:
            rejected_nonfinite = False
            stats.accepted += 1
            while idx < n and direction * (tf[idx] - t_next) <= 0.0:
                if tf[idx] == t_next or (last and idx == n - 1):
                    ys.append(y1)
                    if qs is not None:
                        qs.append(q1)  # type: ignore[arg-type]
                else:
                    theta = (times[idx] - t_obj) / h_obj
                    ys.append(_interpolate(tab, y, y1, ks, h_obj, theta))
                    if qs is not None:
                        qs.append(_interpolate(tab, q, q1, qks, h_obj, theta))  # type: ignore[arg-type]
                idx += 1
            t, t_obj, y, q, f, qf = t_next, t_next_obj, y1, q1, ks[-1], qks[-1]
            factor = ifactor if ratio == 0.0 else min(ifactor, max(1.0, safety * ratio ** (-1.0 / tab.order)))
        else:
            stats.rejected += 1
            factor = dfactor if math.isinf(ratio) else min(1.0, max(dfactor, safety * ratio ** (-1.0 / tab.order)))
        h = min(abs(h_signed) * factor, max_step)
    return ys, qs


def _initial_step(
    ev: Evaluator,
    t: Time,
    y: torch.Tensor,
    f: torch.Tensor,
    q: torch.Tensor | None,
    qf: torch.Tensor | None,
    direction: float,
    span: float,
    order: int,
    rtol: float,
    atol: float,
    norm_y: Norm,
    norm_q: Norm,
    with_q: bool,
) -> float:
    """Hairer, Nørsett & Wanner's starting step (Solving ODEs I, II.4): one extra evaluation.

    The trial step h₀ is capped at the interval's length ``span``, so the probe stays inside it: a
    field defined only on the interval (a diffusion's t ∈ [eps, T]) is never evaluated outside.
    """

    def scaled(v: torch.Tensor, ref: torch.Tensor, norm: Norm) -> float:
        return float(norm(v / (ref.abs() * rtol + atol)))

    d0 = scaled(y, y, norm_y)
    d1 = scaled(f, y, norm_y)
    if with_q:
        d0 = max(d0, scaled(q, q, norm_q))  # type: ignore[arg-type]
        d1 = max(d1, scaled(qf, q, norm_q))  # type: ignore[arg-type]
    h0 = min(1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1, span)
    f1, qf1 = ev(t + direction * h0, y + (direction * h0) * f)
    d2 = scaled(f1 - f, y, norm_y) / h0
    if with_q:
        d2 = max(d2, scaled(qf1 - qf, q, norm_q) / h0)  # type: ignore[operator,arg-type]
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1.0 / order)
    return min(100 * h0, h1)
