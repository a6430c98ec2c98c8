"""The adjoint method (Pontryagin; Chen, Rubanova, Bettencourt & Duvenaud 2018) as a Solver.

Forward: z(t₁) = z(t₀) + ∫ f(t, z, θ) dt, solved without recording a graph. Backward, from
a(t_N) = ∂L/∂z(t_N) and a_θ(t_N) = 0, solve backward in time

    dz/dt = f,    da/dt = −aᵀ ∂f/∂z,    da_θ/dt = −aᵀ ∂f/∂θ,

resetting z to the stored forward value and adding ∂L/∂z(t_i) to a at every output time t_i. Then
∂L/∂z(t₀) = a(t₀) and ∂L/∂θ = a_θ(t₀). Time gradients need no extra integral: ∂L/∂t_i = g_iᵀ f(t_i, z_i)
for i ≥ 1 (g_i the incoming gradient of output i) and ∂L/∂t₀ = −(a(t₀) − g₀)ᵀ f(t₀, z₀), since
∂z(t_k)/∂t₀ = −Φ(t_k, t₀) f(t₀, z₀) for the flow's Jacobian Φ.

a_θ is a quadrature variable (it never feeds back into the dynamics), so the backward solve forms RK
stages for [z, a] only; with ``seminorm`` it is also left out of the error control. Memory: one step's
graph at a time, whatever the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from scorekit.errors import ConfigError
from scorekit.interfaces import Solver, SolveStats
from scorekit_adjoint_ode import _rk
from scorekit_adjoint_ode.config import AdjointConfig, FixedStepConfig
from scorekit_adjoint_ode.solvers import AdaptiveSolver, FixedStepSolver, RungeKuttaSolver, check_times

__all__ = ["Adjoint", "find_parameters"]


def find_parameters(func: Any) -> list[torch.Tensor]:
    """The parameters of an ``nn.Module`` func (or of the module a bound method belongs to)."""
    module = func if isinstance(func, nn.Module) else getattr(func, "__self__", None)
    if isinstance(module, nn.Module):
        return [p for p in module.parameters() if p.requires_grad]
    raise ConfigError(
        "the adjoint method needs the tensors func depends on: pass params=[...] (torchdiffeq's adjoint_params), "
        "or make func an nn.Module; params=() if it has none"
    )


class Adjoint(Solver):
    """Wraps a forward Solver; gradients by the adjoint method instead of backpropagation through steps.

    ``stats`` (a :class:`SolveStats`) gets its backward counts when the gradient is computed.
    """

    def __init__(self, config: AdjointConfig | None = None, *, solver: Solver | None = None) -> None:
        config = config or AdjointConfig()
        self.config = config
        self.forward_solver: Solver = solver if solver is not None else config.solver.build()
        if isinstance(self.forward_solver, Adjoint):
            raise ConfigError("the adjoint's solver cannot itself be an adjoint")
        self.backward_solver = self._backward_solver(config, self.forward_solver)
        self.order = self.forward_solver.order  # type: ignore[misc]
        self.adaptive = self.forward_solver.adaptive  # type: ignore[misc]
        self.seminorm = config.seminorm
        self.stats = SolveStats()

    @staticmethod
    def _backward_solver(config: AdjointConfig, forward: Solver) -> Solver:
        overrides = {k: v for k, v in (("rtol", config.backward_rtol), ("atol", config.backward_atol)) if v is not None}
        if not overrides:
            return forward
        solver_config = getattr(forward, "config", None)
        if solver_config is None or not all(hasattr(solver_config, k) for k in overrides):
            raise ConfigError(
                f"backward_rtol/backward_atol need an adaptive solver with rtol/atol; {type(forward).__name__} has none"
            )
        return type(forward)(attrs.evolve(solver_config, **overrides))  # type: ignore[call-arg]

    def integrate(
        self,
        func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        y0: torch.Tensor,
        t: torch.Tensor,
        *,
        params: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        t = check_times(y0, t, "adjoint")
        found = find_parameters(func) if params is None else [p for p in params if p.requires_grad]
        self.stats = SolveStats()
        needs_grad = torch.is_grad_enabled() and (
            y0.requires_grad or t.requires_grad or any(p.requires_grad for p in found)
        )
        if not needs_grad or t.numel() == 1:
            with torch.no_grad() if not needs_grad else torch.enable_grad():
                out = self.forward_solver.integrate(func, y0, t, params=found)
            self.stats.add(self.forward_solver.stats)
            return out
        return _AdjointFunction.apply(self, func, t, y0, *found)


class _AdjointFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, adjoint: Adjoint, func: Callable, t: torch.Tensor, y0: torch.Tensor, *params: torch.Tensor):
        with torch.no_grad():
            ys = adjoint.forward_solver.integrate(func, y0, t, params=params)
        adjoint.stats.add(adjoint.forward_solver.stats)
        ctx.adjoint, ctx.func = adjoint, func
        ctx.save_for_backward(t, ys, *params)
        return ys

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_ys: torch.Tensor) -> tuple[Any, ...]:
        adjoint: Adjoint = ctx.adjoint
        func = ctx.func
        t, ys, *params = ctx.saved_tensors
        wanted = [p.requires_grad for p in params]
        live = [p for p, w in zip(params, wanted, strict=True) if w]
        sizes = [p.numel() for p in live]
        dtype, device = ys.dtype, ys.device

        def dynamics(t_: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z, a = state[0], state[1]
            with torch.enable_grad():
                z_ = z.detach().requires_grad_(True)
                f = func(t_, z_)
                grads = torch.autograd.grad(f, (z_, *live), -a, allow_unused=True)
            vjp_z = grads[0] if grads[0] is not None else torch.zeros_like(z)
            flat = [
                (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads[1:], live, strict=True)
            ]
            dq = torch.cat(flat) if flat else torch.zeros(0, dtype=dtype, device=device)
            return torch.stack([f.detach(), vjp_z]), dq

        solver = adjoint.backward_solver
        fixed_steps = solver.steps_per_interval(t.tolist()) if isinstance(solver, FixedStepSolver) else None
        a = grad_ys[-1]
        a_theta = torch.zeros(sum(sizes), dtype=dtype, device=device)
        for i in range(len(t) - 1, 0, -1):
            state = torch.stack([ys[i], a])
            span = t[i - 1 : i + 1].flip(0).detach()
            if fixed_steps is not None:  # the forward pass's steps on this interval
                solver = cast("type[FixedStepSolver]", type(solver))(FixedStepConfig(steps=fixed_steps[i - 1]))
            states, quads = _solve_backward(solver, dynamics, state, a_theta, span, adjoint.seminorm, sizes)
            adjoint.stats.add(solver.stats, backward=True)
            a = states[-1][1] + grad_ys[i - 1]
            a_theta = quads[-1]

        grad_t = None
        if ctx.needs_input_grad[2]:
            with torch.no_grad():
                grad_t = torch.empty(len(t), dtype=t.dtype, device=t.device)
                for i in range(len(t)):
                    f_i = func(t[i].to(dtype), ys[i])
                    weight = grad_ys[i] if i > 0 else -(a - grad_ys[0])
                    grad_t[i] = (f_i * weight).sum()
                adjoint.stats.backward_nfe += len(t)

        grad_params: list[torch.Tensor | None] = []
        pieces = iter(a_theta.split(sizes)) if sizes else iter(())
        for p, w in zip(params, wanted, strict=True):
            grad_params.append(next(pieces).view_as(p) if w else None)
        return (None, None, grad_t, a, *grad_params)


def _solve_backward(
    solver: Solver,
    dynamics: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    state: torch.Tensor,
    a_theta: torch.Tensor,
    span: torch.Tensor,
    seminorm: bool,
    sizes: list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The backward solve of one interval; the norm is torchdiffeq's (max of RMS over z, a and each θ)."""
    if isinstance(solver, AdaptiveSolver):

        def norm_y(scaled: torch.Tensor) -> torch.Tensor:
            return torch.maximum(_rk.rms_norm(scaled[0]), _rk.rms_norm(scaled[1]))

        def norm_q(scaled: torch.Tensor) -> torch.Tensor:
            parts = scaled.split(sizes)
            return torch.stack([_rk.rms_norm(p) for p in parts]).max() if parts else scaled.new_zeros(())

        ys, qs = solver._solve(
            dynamics, state, a_theta, span, quadrature_error=not seminorm, norm_y=norm_y, norm_q=norm_q
        )
        assert qs is not None
        return ys, qs
    if isinstance(solver, RungeKuttaSolver):
        ys, qs = solver._solve(dynamics, state, a_theta, span)
        assert qs is not None
        return ys, qs
    return solver.integrate_quadrature(dynamics, state, a_theta, span, quadrature_error=not seminorm)
