"""``scorekit.odeint``: the functional ODE API, for torchdiffeq users.

Solvers are registry components (plugin ``adjoint_ode`` ships euler, midpoint, rk4, bosh3, dopri5 and
the adjoint), so a third party's solver is selectable by name here and in configs alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch

from scorekit._registry import Registry, load_registry
from scorekit.config import structure_as
from scorekit.errors import ConfigError
from scorekit.interfaces import Solver, TraceEstimator

__all__ = ["build_solver", "flow_log_prob", "odeint"]


@functools.cache
def _default_registry() -> Registry:
    return load_registry()


def build_solver(
    solver: str | Solver = "dopri5",
    *,
    rtol: float | None = None,
    atol: float | None = None,
    adjoint: bool = False,
    adjoint_rtol: float | None = None,
    adjoint_atol: float | None = None,
    seminorm: bool = False,
    options: dict[str, Any] | None = None,
    registry: Registry | None = None,
) -> Solver:
    """The Solver :func:`odeint` would use; build it once to reuse it (and read its ``stats``)."""
    if isinstance(solver, Solver):
        if rtol is not None or atol is not None or options or adjoint:
            raise ConfigError(
                "odeint: rtol, atol, options and adjoint configure a solver given by name, not an instance"
            )
        return solver
    if not isinstance(solver, str):
        raise ConfigError(f"odeint: solver must be a name or a Solver, got {type(solver).__name__}")
    registry = registry or _default_registry()
    table: dict[str, Any] = {"kind": solver, **(options or {})}
    for key, value in (("rtol", rtol), ("atol", atol)):
        if value is not None:
            table[key] = value
    entry = registry.components.get(("solver", solver))
    if entry is not None and (rtol is not None or atol is not None) and "rtol" not in attrs.fields_dict(entry.config):
        raise ConfigError(
            f"odeint: {solver!r} is a fixed-step solver, so rtol/atol do not apply; "
            "choose its steps with options={'steps': N} or options={'step_size': h}"
        )
    if not adjoint:
        if adjoint_rtol is not None or adjoint_atol is not None or seminorm:
            raise ConfigError("odeint: adjoint_rtol, adjoint_atol and seminorm apply only with adjoint=True")
        return structure_as(table, "solver", "odeint(solver=...)", registry).build()
    if "adjoint" not in registry.names("solver"):
        raise ConfigError("odeint(adjoint=True) needs the solver 'adjoint': pip install scorekit[adjoint-ode]")
    adjoint_table: dict[str, Any] = {"kind": "adjoint", "solver": table, "seminorm": seminorm}
    if adjoint_rtol is not None:
        adjoint_table["backward_rtol"] = adjoint_rtol
    if adjoint_atol is not None:
        adjoint_table["backward_atol"] = adjoint_atol
    return structure_as(adjoint_table, "solver", "odeint(adjoint=True)", registry).build()


def odeint(
    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    t: torch.Tensor,
    *,
    solver: str | Solver = "dopri5",
    rtol: float | None = None,
    atol: float | None = None,
    adjoint: bool = False,
    adjoint_rtol: float | None = None,
    adjoint_atol: float | None = None,
    adjoint_params: Sequence[torch.Tensor] | None = None,
    seminorm: bool = False,
    options: dict[str, Any] | None = None,
    return_stats: bool = False,
    registry: Registry | None = None,
) -> Any:
    """Solve dy/dt = func(t, y) from y(t[0]) = y0; returns y at every time of t, shape (len(t), *y0.shape).

    Like ``torchdiffeq.odeint`` (``adjoint=True`` is ``odeint_adjoint``), with these differences:

    - ``solver`` names any registered solver (``method`` in torchdiffeq); ``options`` are its config
      fields (``{"steps": 50}``, ``{"max_steps": 500}``); rtol/atol default to the solver's own
      (1e-5 for dopri5) and are refused for fixed-step solvers instead of being ignored;
    - an adaptive solve that needs more than ``max_steps`` steps raises SolverError instead of hanging;
    - the adjoint finds the tensors ``func`` depends on from one evaluation's autograd graph (an
      ``nn.Module``'s parameters, or what a closure captures); ``adjoint_params`` gives them instead;
      ``adjoint_rtol``/``adjoint_atol`` and ``seminorm`` (leave the parameter adjoint out of the
      backward error control);
    - ``return_stats=True`` returns ``(ys, stats)``: function evaluations and steps, forward and, once
      the gradient is computed, backward.

    Example::

        ys = scorekit.odeint(lambda t, y: -y, torch.ones(3), torch.linspace(0, 1, 5))
        ys = scorekit.odeint(net, z0, t, adjoint=True, seminorm=True)
    """
    built = build_solver(
        solver,
        rtol=rtol,
        atol=atol,
        adjoint=adjoint,
        adjoint_rtol=adjoint_rtol,
        adjoint_atol=adjoint_atol,
        seminorm=seminorm,
        options=options,
        registry=registry,
    )
    if adjoint_params is not None and not adjoint:
        raise ConfigError("odeint: adjoint_params applies only with adjoint=True")
    if adjoint_params is not None:
        built.params = list(adjoint_params)  # type: ignore[attr-defined]  # the adjoint's own setting
    solution = built.solve(func, y0, t)
    return (solution.ys, solution.stats) if return_stats else solution.ys


def flow_log_prob(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    solver: Solver,
    estimator: TraceEstimator,
    t0: float,
    t1: float,
    prior_log_prob: Callable[[torch.Tensor], torch.Tensor],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log p_{t0}(x) per sample for a flow dx/dt = velocity(t, x) that carries p_{t0} to a known p_{t1}.

    Along the flow d log p(x(t))/dt = −tr(∂v/∂x) (the instantaneous change of variables, Chen et
    al. 2018), so log p_{t0}(x) = log p_{t1}(x(t1)) + ∫_{t0}^{t1} tr(∂v/∂x(t)) dt, solved as one ODE
    in which the integral is a quadrature variable. ``velocity`` gets t as a 0-dim tensor; the trace
    comes from ``estimator`` (reset first, so estimators that hold a probe along a solve draw a new
    one). Differentiable when grad mode is on: a CNF trains through it, a score model's
    probability-flow ODE evaluates it.
    """
    estimator.reset()

    def augmented(t: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return estimator.trace(lambda y: velocity(t, y), z, create_graph=torch.is_grad_enabled(), generator=generator)

    times = torch.tensor([t0, t1], dtype=x.dtype, device=x.device)
    zs, integrals = solver.integrate_quadrature(augmented, x, x.new_zeros(x.shape[0]), times)
    return prior_log_prob(zs[-1]) + integrals[-1]
