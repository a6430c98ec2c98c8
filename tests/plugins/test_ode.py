"""ODE solvers and the adjoint method (plugin adjoint_ode) against closed forms and direct backprop."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import scorekit
from scorekit.errors import ConfigError, SolverError
from scorekit.ode import build_solver

FIXED = ("euler", "midpoint", "rk4")
ADAPTIVE = ("bosh3", "dopri5")
ORDERS = {"euler": 1, "midpoint": 2, "rk4": 4}

# A damped rotation: y(t) = exp(At)·y0, the closed form the solutions are held to.
A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
Y0 = torch.tensor([1.0, 0.5], dtype=torch.float64)


def linear(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return y @ A.T


def exact(times: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.linalg.matrix_exp(A * float(s)) @ Y0 for s in times])


@pytest.mark.parametrize("name", FIXED)
def test_fixed_step_solvers_converge_at_their_order(name: str) -> None:
    t = torch.linspace(0.0, 2.0, 5, dtype=torch.float64)
    errors = []
    for steps in (40, 80):
        ys = scorekit.odeint(linear, Y0, t, solver=name, options={"steps": steps})
        errors.append(float((ys - exact(t)).abs().max()))
    observed = math.log2(errors[0] / errors[1])
    assert abs(observed - ORDERS[name]) < 0.25, (name, errors, observed)


@pytest.mark.parametrize("name", ADAPTIVE)
@pytest.mark.parametrize("tol", [1e-5, 1e-9])
def test_adaptive_solvers_meet_their_tolerance_on_a_linear_ode(name: str, tol: float) -> None:
    # Output times inside steps exercise the dense output; the global error of a solve of 3 periods
    # may exceed the local tolerance by the number of steps, so the bound is 100 tolerances.
    t = torch.linspace(0.0, 9.0, 23, dtype=torch.float64)
    ys, stats = scorekit.odeint(linear, Y0, t, solver=name, rtol=tol, atol=tol, return_stats=True)
    assert ys.shape == (23, 2)
    assert torch.equal(ys[0], Y0)
    assert float((ys - exact(t)).abs().max()) < 100 * tol
    stages = {"bosh3": 3, "dopri5": 6}[name]
    # FSAL: the first evaluation, one for the initial step size, then stages − 1... per step.
    assert stats.nfe == 2 + stages * (stats.accepted + stats.rejected)


def test_exponential_decay_backward_in_time_and_any_state_shape() -> None:
    y0 = torch.full((2, 3, 4), 2.0, dtype=torch.float64)
    t = torch.tensor([1.0, 0.5, -1.0], dtype=torch.float64)  # decreasing: integrate backward
    for name in ("rk4", "dopri5"):
        options = {"steps": 200} if name == "rk4" else {"rtol": 1e-10, "atol": 1e-10}
        ys = scorekit.odeint(lambda t, y: -0.7 * y, y0, t, solver=name, options=options)
        want = 2.0 * torch.exp(-0.7 * (t - 1.0))
        assert ys.shape == (3, 2, 3, 4)
        torch.testing.assert_close(ys[:, 0, 0, 0], want, rtol=1e-8, atol=0)


def test_float32_state_stays_float32_and_time_reaches_func_as_a_tensor() -> None:
    seen: list[torch.Tensor] = []

    def func(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(t)
        return torch.cos(t) * torch.ones_like(y)

    ys = scorekit.odeint(func, torch.zeros(4), torch.tensor([0.0, 1.5]), solver="dopri5")
    assert ys.dtype == torch.float32
    assert all(isinstance(s, torch.Tensor) and s.ndim == 0 and s.dtype == torch.float32 for s in seen)
    torch.testing.assert_close(ys[-1], torch.full((4,), math.sin(1.5)), rtol=1e-4, atol=1e-5)


class _Field(nn.Module):
    """A small time-dependent MLP field with one parameter it never uses."""

    def __init__(self, dim: int = 2, hidden: int = 16) -> None:
        super().__init__()
        self.inp = nn.Linear(dim + 1, hidden)
        self.out = nn.Linear(hidden, dim)
        self.unused = nn.Linear(3, 3)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(torch.cat([y, t.expand(y.shape[0], 1)], dim=1)))
        return self.out(h)


def _gradients(field: _Field, adjoint: bool, seminorm: bool = False, solver: str = "dopri5", **kw: object) -> list:
    torch.manual_seed(3)
    y0 = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.4, 1.1], dtype=torch.float64, requires_grad=True)
    field.zero_grad(set_to_none=True)
    ys = scorekit.odeint(field, y0, t, solver=solver, adjoint=adjoint, seminorm=seminorm, **kw)
    weights = torch.linspace(0.5, 1.5, 3, dtype=torch.float64).view(3, 1, 1)
    (weights * ys.square() + ys).sum().backward()
    return [y0.grad, t.grad, *[p.grad for p in field.parameters()]]


@pytest.mark.parametrize("seminorm", [False, True])
def test_adjoint_gradients_match_direct_backpropagation(seminorm: bool) -> None:
    torch.manual_seed(0)
    field = _Field().double()
    direct = _gradients(field, adjoint=False, rtol=1e-9, atol=1e-9)
    adjoint = _gradients(field, adjoint=True, seminorm=seminorm, rtol=1e-9, atol=1e-9)
    for name, d, a in zip(["y0", "t", "inp.w", "inp.b", "out.w", "out.b"], direct, adjoint, strict=False):
        rel = float((d - a).norm() / a.norm())
        assert rel <= 1e-6, (name, rel)
    # The unused parameter: a zero gradient from the adjoint (backprop leaves it None).
    assert direct[-1] is None and adjoint[-1] is not None
    assert torch.count_nonzero(adjoint[-1]) == 0 and torch.count_nonzero(adjoint[-2]) == 0


def test_adjoint_passes_gradcheck_in_float64() -> None:
    torch.manual_seed(1)
    w = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.3, 0.8], dtype=torch.float64, requires_grad=True)

    def solve(y0: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        def func(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.tanh(y @ w) * (1 + s)

        # w is found from func's graph: a closure needs no adjoint_params.
        return scorekit.odeint(func, y0, t, solver="rk4", options={"steps": 400}, adjoint=True)

    assert torch.autograd.gradcheck(solve, (y0, t, w), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_adjoint_finds_what_a_closure_depends_on() -> None:
    """Gradients of a closure over a leaf, over a tensor computed from one (w = exp(θ), a graph shared by
    every evaluation), and over a module: the adjoint's equal backpropagation through the same steps."""
    torch.manual_seed(2)
    theta = torch.randn(2, dtype=torch.float64, requires_grad=True)
    field = _Field(hidden=8).double()
    y0, t = torch.randn(5, 2, dtype=torch.float64), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    leaves = [theta, *field.inp.parameters(), *field.out.parameters()]
    results = []
    for adjoint in (False, True):
        w = theta.exp()

        def func(s: torch.Tensor, y: torch.Tensor, w: torch.Tensor = w) -> torch.Tensor:
            return field(s, y) * w - 0.1 * y

        ys = scorekit.odeint(func, y0, t, solver="rk4", options={"steps": 50}, adjoint=adjoint)
        results.append(torch.autograd.grad(ys.square().sum(), leaves))
    for plain, adjoint in zip(*results, strict=True):
        assert torch.allclose(plain, adjoint, rtol=1e-6, atol=1e-9)
    # Explicit tensors still work (torchdiffeq's adjoint_params) and restrict the gradient to them.
    ys = scorekit.odeint(lambda s, y: -theta.exp() * y, y0, t, solver="rk4", adjoint=True, adjoint_params=[theta])
    (grad,) = torch.autograd.grad(ys[-1].sum(), theta)
    assert torch.isfinite(grad).all()


def test_seminorm_takes_fewer_backward_steps() -> None:
    torch.manual_seed(0)
    field = _Field(hidden=32).double()
    counts = {}
    for seminorm in (False, True):
        y0 = torch.randn(64, 2, dtype=torch.float64)
        ys, stats = scorekit.odeint(
            field,
            y0,
            torch.tensor([0.0, 3.0]),
            adjoint=True,
            seminorm=seminorm,
            rtol=1e-6,
            atol=1e-6,
            return_stats=True,
        )
        ys[-1].square().sum().backward()
        counts[seminorm] = stats.backward_nfe
    assert counts[True] < counts[False]


def _saved_bytes(run) -> int:
    total = 0

    def pack(x: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += x.numel() * x.element_size()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        run()
    return total


def test_adjoint_graph_memory_does_not_grow_with_the_number_of_steps() -> None:
    field = _Field(hidden=64)
    y0 = torch.randn(256, 2)
    t = torch.tensor([0.0, 1.0])

    def saved(steps: int, adjoint: bool) -> int:
        kw = {"adjoint": adjoint, "options": {"steps": steps}, "solver": "rk4"}
        return _saved_bytes(lambda: scorekit.odeint(field, y0, t, **kw))

    assert saved(10, True) == saved(100, True)
    assert saved(100, False) > 9 * saved(10, False)  # direct backprop keeps every step's activations


def test_blow_up_fails_with_max_steps_instead_of_hanging() -> None:
    # y' = y², y(0) = 1 blows up at t = 1.
    with pytest.raises(SolverError, match="max_steps = 200"):
        scorekit.odeint(lambda t, y: y * y, torch.ones(1), torch.tensor([0.0, 2.0]), options={"max_steps": 200})
    with pytest.raises(SolverError, match="below min_step"):
        scorekit.odeint(lambda t, y: y * y, torch.ones(1), torch.tensor([0.0, 2.0]), options={"min_step": 1e-3})


def test_a_non_finite_state_is_reported() -> None:
    def func(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.full_like(y, math.nan) if float(t) > 0.5 else -y

    with pytest.raises(SolverError, match="non-finite"):
        scorekit.odeint(func, torch.ones(2), torch.tensor([0.0, 1.0]), solver="euler", options={"steps": 10})
    with pytest.raises(SolverError):
        scorekit.odeint(func, torch.ones(2), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"t": torch.tensor([0.0, 1.0, 0.5])}, "strictly increasing or strictly decreasing"),
        ({"t": torch.tensor([[0.0, 1.0]])}, "1-D tensor"),
        ({"t": torch.tensor([0.0, math.inf])}, "finite"),
        ({"y0": [1.0, 2.0]}, "floating-point tensor"),
        ({"solver": "euler", "rtol": 1e-3}, "fixed-step solver"),
        ({"solver": "rk45"}, "unknown solver 'rk45'"),
        ({"options": {"stepz": 3}, "solver": "rk4"}, "stepz"),
        ({"options": {"steps": 3, "step_size": 0.1}, "solver": "rk4"}, "not both"),
        ({"seminorm": True}, "only with adjoint=True"),
        ({"adjoint_params": [torch.ones(1)]}, "adjoint_params applies only with adjoint=True"),
        ({"func": lambda t, y: y[:1]}, r"returned \(1,\) for a state of shape \(2,\)"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs: dict, message: str) -> None:
    args = {"func": lambda t, y: -y, "y0": torch.ones(2), "t": torch.tensor([0.0, 1.0])}
    for key in ("func", "y0", "t"):
        if key in kwargs:
            args[key] = kwargs.pop(key)
    with pytest.raises(ConfigError, match=message):
        scorekit.odeint(args["func"], args["y0"], args["t"], **kwargs)


def test_solvers_are_configurable_by_name_and_reusable() -> None:
    solver = build_solver("dopri5", rtol=1e-7, atol=1e-7, adjoint=True, adjoint_rtol=1e-8, seminorm=True)
    assert solver.adaptive and solver.order == 5
    assert solver.backward_solver.config.rtol == 1e-8 and solver.backward_solver.config.atol == 1e-7
    field = _Field()
    solution = solver.solve(field, torch.randn(4, 2), torch.tensor([0.0, 1.0]))
    assert solution.stats.nfe > 0 and solution.stats.backward_nfe == 0 and solution.qs is None
    other = solver.solve(field, torch.randn(4, 2), torch.tensor([0.0, 2.0]))  # another solve in between
    solution.ys.sum().backward()
    # The backward counts land on the solve they belong to, not on the solver's latest.
    assert solution.stats.backward_nfe > 0 and other.stats.backward_nfe == 0
    assert solver.stats is other.stats and solver.nfe == other.stats.nfe


def test_a_third_party_runge_kutta_method_is_a_tableau() -> None:
    """Ralston's second-order method in a few lines, registered by an outside plugin: its observed order on
    dy/dt = −y is 2, and the adjoint differentiates through it like through a built-in solver."""
    import types

    from scorekit import hookimpl
    from scorekit._registry import load_registry
    from scorekit.config import structure_as
    from scorekit_adjoint_ode.config import FixedStepConfig
    from scorekit_adjoint_ode.solvers import FixedStepSolver
    from scorekit_adjoint_ode.tableaus import Tableau
    from tests.conftest import installed_entry_points
    from tests.core.test_registry import FakeEntryPoint

    class Ralston(FixedStepSolver):
        tableau = Tableau(name="ralston", order=2, c=(0.0, 2 / 3), a=((), (2 / 3,)), b=(1 / 4, 3 / 4))

    plugin = types.ModuleType("ralston")

    @hookimpl
    def scorekit_register_components(register: scorekit.RegisterComponent) -> None:
        register("solver", "ralston", factory=Ralston, config=FixedStepConfig, summary="Ralston's RK2")

    plugin.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    registry = load_registry([*installed_entry_points("core", "adjoint_ode"), FakeEntryPoint("ralston", plugin, "x")])
    assert not registry.failures
    errors = []
    y0, t = torch.ones(3, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    for steps in (10, 20, 40):
        solver = structure_as({"kind": "ralston", "steps": steps}, "solver", "$.solver", registry).build()
        assert solver.order == 2 and solver.name == "ralston"
        y1 = solver.integrate(lambda _, y: -y, y0, t)[-1]
        errors.append(float((y1 - math.exp(-1.0)).abs().max()))
        assert solver.stats.nfe == 2 * steps
    orders = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert all(abs(order - 2) < 0.1 for order in orders), orders
    adjoint = structure_as(
        {"kind": "adjoint", "solver": {"kind": "ralston", "steps": 20}}, "solver", "$.solver", registry
    ).build()
    rate = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y1 = adjoint.integrate(lambda _, y: -rate * y, y0, t)[-1]
    (grad,) = torch.autograd.grad(y1.sum(), rate)
    assert float(grad) == pytest.approx(-3 * math.exp(-0.7), rel=1e-3)  # d/dr 3·e^{−r}
