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
from typing import Any

import attrs
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from scorekit.errors import ConfigError
from scorekit.interfaces import Norm, Solver, SolveStats
from scorekit_adjoint_ode import _rk
from scorekit_adjoint_ode.config import AdjointConfig
from scorekit_adjoint_ode.solvers import check_times

__all__ = ["Adjoint", "closure_parameters"]


def closure_parameters(
    func: Any, t0: torch.Tensor, y0: torch.Tensor, exclude: Sequence[torch.Tensor] = ()
) -> list[torch.Tensor]:
    """The tensors requiring grad that ``func(t0, y0)`` depends on: the leaves of one evaluation's autograd
    graph (the parameters of an ``nn.Module`` func, or whatever a closure captures), in the order found,
    without y itself and ``exclude`` (the times). The adjoint's backward pass returns their gradients."""
    with torch.enable_grad():
        y = y0.detach().requires_grad_(True)
        out = func(t0, y)
    outputs = out if isinstance(out, tuple) else (out,)
    skip = {id(y), *(id(e) for e in exclude)}
    stack: list[Any] = [o.grad_fn for o in outputs if isinstance(o, torch.Tensor) and o.grad_fn is not None]
    seen: set[int] = set()
    found: dict[int, torch.Tensor] = {}
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)  # AccumulateGrad: a leaf that requires grad
        if isinstance(variable, torch.Tensor):
            if id(variable) not in skip:
                found.setdefault(id(variable), variable)
            continue
        stack.extend(next_node for next_node, _ in node.next_functions)
    module = func if isinstance(func, nn.Module) else getattr(func, "__self__", None)
    if isinstance(module, nn.Module):  # a module's parameters first, in their order
        ordered = [p for p in module.parameters() if p.requires_grad]
        return ordered + [v for k, v in found.items() if k not in {id(p) for p in ordered}]
    return list(found.values())


class Adjoint(Solver):
    """Wraps a forward Solver; gradients by the adjoint method instead of backpropagation through steps.

    The tensors ``func`` depends on are found from one evaluation's autograd graph
    (:func:`closure_parameters`), so ``func`` may be an ``nn.Module`` or any closure; set
    :attr:`params` to give them explicitly (torchdiffeq's ``adjoint_params``). Each solve's
    :class:`SolveStats` (``solve(...).stats``) gets its backward counts when its gradient is computed.
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
        #: The tensors to differentiate with respect to; None: found from func's graph at every solve.
        self.params: Sequence[torch.Tensor] | None = None

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
        self, func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y0: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        t = check_times(y0, t, "adjoint")
        stats = self.stats = SolveStats()
        grad_mode = torch.is_grad_enabled()
        if self.params is not None:
            found = [p for p in self.params if p.requires_grad]
        elif grad_mode:
            found = closure_parameters(func, t[0].to(y0.dtype), y0, exclude=(t,))
            stats.nfe += 1  # the evaluation that found them
        else:
            found = []
        needs_grad = grad_mode and (y0.requires_grad or t.requires_grad or bool(found))
        if not needs_grad or t.numel() == 1:
            with torch.no_grad() if not needs_grad else torch.enable_grad():
                out = self.forward_solver.integrate(func, y0, t)
            stats.add(self.forward_solver.stats)
            return out
        return _AdjointFunction.apply(self, stats, func, t, y0, *found)


class _AdjointFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        adjoint: Adjoint,
        stats: SolveStats,
        func: Callable,
        t: torch.Tensor,
        y0: torch.Tensor,
        *params: torch.Tensor,
    ):
        with torch.no_grad():
            ys = adjoint.forward_solver.integrate(func, y0, t)
        stats.add(adjoint.forward_solver.stats)
        ctx.adjoint, ctx.stats, ctx.func = adjoint, stats, func
        ctx.save_for_backward(t, ys, *params)
        return ys

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_ys: torch.Tensor) -> tuple[Any, ...]:
        adjoint: Adjoint = ctx.adjoint
        stats: SolveStats = ctx.stats  # this solve's, whatever the solver did since
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
                # retain_graph: a closure's tensor computed from a parameter outside func (w = exp(θ)) is
                # one graph shared by every evaluation; each step's own part is freed with f.
                grads = torch.autograd.grad(f, (z_, *live), -a, allow_unused=True, retain_graph=True)
            vjp_z = grads[0] if grads[0] is not None else torch.zeros_like(z)
            flat = [
                (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads[1:], live, strict=True)
            ]
            dq = torch.cat(flat) if flat else torch.zeros(0, dtype=dtype, device=device)
            return torch.stack([f.detach(), vjp_z]), dq

        times = t.tolist()
        a = grad_ys[-1]
        a_theta = torch.zeros(sum(sizes), dtype=dtype, device=device)
        for i in range(len(t) - 1, 0, -1):
            state = torch.stack([ys[i], a])
            span = t[i - 1 : i + 1].flip(0).detach()
            solver = adjoint.backward_solver.for_interval(times, i - 1)  # the forward pass's steps there
            states, quads = solver.integrate_quadrature(
                dynamics, state, a_theta, span, quadrature_error=not adjoint.seminorm, norms=_norms(sizes)
            )
            stats.add(solver.stats, backward=True)
            a = states[-1][1] + grad_ys[i - 1]
            a_theta = quads[-1]

        grad_t = None
        if ctx.needs_input_grad[3]:  # (adjoint, stats, func, t, y0, *params)
            with torch.no_grad():
                grad_t = torch.empty(len(t), dtype=t.dtype, device=t.device)
                for i in range(len(t)):
                    f_i = func(t[i].to(dtype), ys[i])
                    weight = grad_ys[i] if i > 0 else -(a - grad_ys[0])
                    grad_t[i] = (f_i * weight).sum()
                stats.backward_nfe += len(t)

        grad_params: list[torch.Tensor | None] = []
        pieces = iter(a_theta.split(sizes)) if sizes else iter(())
        for p, w in zip(params, wanted, strict=True):
            grad_params.append(next(pieces).view_as(p) if w else None)
        return (None, None, None, grad_t, a, *grad_params)


def _norms(sizes: list[int]) -> tuple[Norm, Norm]:
    """torchdiffeq's adjoint norms: the max of the RMS over z and a, and over each parameter's block of a_θ."""

    def norm_y(scaled: torch.Tensor) -> torch.Tensor:
        return torch.maximum(_rk.rms_norm(scaled[0]), _rk.rms_norm(scaled[1]))

    def norm_q(scaled: torch.Tensor) -> torch.Tensor:
        parts = scaled.split(sizes)
        return torch.stack([_rk.rms_norm(p) for p in parts]).max() if parts else scaled.new_zeros(())

    return norm_y, norm_q
