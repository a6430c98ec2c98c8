"""Runge–Kutta solvers: fixed-step euler, midpoint, rk4; adaptive bosh3 and dopri5."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces import Norm, QuadratureFunc, Solver, SolveStats
from scorekit_adjoint_ode import _rk, tableaus
from scorekit_adjoint_ode.config import AdaptiveConfig, FixedStepConfig
from scorekit_adjoint_ode.tableaus import Tableau

__all__ = ["RK4", "Bosh3", "Dopri5", "Euler", "FixedStepSolver", "Midpoint", "RungeKuttaSolver", "check_times"]


def check_times(y0: Any, t: Any, name: str) -> torch.Tensor:
    """Validate (y0, t) and return t as a float tensor; a ConfigError names what is wrong."""
    if not isinstance(y0, torch.Tensor) or not y0.is_floating_point():
        raise ConfigError(
            f"{name}: y0 must be a floating-point tensor, got {type(y0).__name__}"
            + (f" of dtype {y0.dtype}" if isinstance(y0, torch.Tensor) else "")
        )
    if not isinstance(t, torch.Tensor):
        raise ConfigError(f"{name}: t must be a 1-D tensor of output times, got {type(t).__name__}")
    if t.ndim != 1 or t.numel() == 0:
        raise ConfigError(f"{name}: t must be a non-empty 1-D tensor of output times, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    values = t.detach().cpu().double()
    if not bool(torch.isfinite(values).all()):
        raise ConfigError(f"{name}: t must be finite, got {values.tolist()}")
    if t.numel() > 1:
        steps = values[1:] - values[:-1]
        if not (bool((steps > 0).all()) or bool((steps < 0).all())):
            raise ConfigError(f"{name}: t must be strictly increasing or strictly decreasing, got {values.tolist()}")
    return t


#: ``func(t, y) -> (dy/dt, dq/dt or None)``: a QuadratureFunc, or plain dynamics with no quadrature.
_Dynamics = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


class _Evaluator:
    """func(t, y) behind the RK machinery: t as a 0-dim tensor, output shape checked once, NFE counted."""

    def __init__(self, func: _Dynamics, y0: torch.Tensor, q0: torch.Tensor | None, stats: SolveStats, name: str):
        self.func, self.stats, self.name = func, stats, name
        self.dtype, self.device = y0.dtype, y0.device
        self.shapes = (y0.shape, None if q0 is None else q0.shape)
        self.checked = False

    def __call__(self, t: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not isinstance(t, torch.Tensor):
            t = torch.tensor(t, dtype=self.dtype, device=self.device)
        self.stats.nfe += 1
        dy, dq = self.func(t, y)
        if not self.checked:
            self._check(dy, dq)
        return dy, dq

    def _check(self, dy: Any, dq: Any) -> None:
        y_shape, q_shape = self.shapes
        if not isinstance(dy, torch.Tensor) or dy.shape != y_shape:
            got = tuple(dy.shape) if isinstance(dy, torch.Tensor) else type(dy).__name__
            raise ConfigError(f"{self.name}: func(t, y) returned {got} for a state of shape {tuple(y_shape)}")
        if q_shape is not None and (not isinstance(dq, torch.Tensor) or dq.shape != q_shape):
            got = tuple(dq.shape) if isinstance(dq, torch.Tensor) else type(dq).__name__
            raise ConfigError(
                f"{self.name}: func returned a quadrature derivative {got} for q of shape {tuple(q_shape)}"
            )
        self.checked = True


class RungeKuttaSolver(Solver):
    """Shared driver: validation, time handling (floats, or tensors when t needs a gradient), stats."""

    tableau: ClassVar[Tableau]

    def __init__(self) -> None:
        self.stats = SolveStats()
        self.name = self.tableau.name
        self.order = self.tableau.order  # type: ignore[misc]

    def integrate(
        self, func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y0: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        ys, _ = self._solve(lambda t_, y: (func(t_, y), None), y0, None, t)
        return ys

    def integrate_quadrature(
        self,
        func: QuadratureFunc,
        y0: torch.Tensor,
        q0: torch.Tensor,
        t: torch.Tensor,
        *,
        quadrature_error: bool = True,
        norms: tuple[Norm, Norm] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        options: dict[str, Any] = {"quadrature_error": quadrature_error}
        if norms is not None:
            options["norm_y"], options["norm_q"] = norms
        ys, qs = self._solve(func, y0, q0, t, **options)
        assert qs is not None
        return ys, qs

    def _solve(
        self,
        func: _Dynamics,
        y0: torch.Tensor,
        q0: torch.Tensor | None,
        t: torch.Tensor,
        **options: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        t = check_times(y0, t, self.name)
        if q0 is not None and (not isinstance(q0, torch.Tensor) or not q0.is_floating_point()):
            raise ConfigError(f"{self.name}: q0 must be a floating-point tensor")
        self.stats = SolveStats()
        if t.numel() == 1:
            return y0.unsqueeze(0), (None if q0 is None else q0.unsqueeze(0))
        # Floats keep the step control off the tensor path; tensors carry gradients to t.
        wants_t_grad = t.requires_grad and torch.is_grad_enabled()
        times: list[Any] = list(t.to(y0.dtype).unbind(0)) if wants_t_grad else t.tolist()
        ev = _Evaluator(func, y0, q0, self.stats, self.name)
        ys, qs = self._run(ev, y0, q0, times, **options)
        return torch.stack(ys), (None if qs is None else torch.stack(qs))

    def _run(
        self, ev: _rk.Evaluator, y0: torch.Tensor, q0: torch.Tensor | None, times: list[Any], **options: Any
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        raise NotImplementedError


class FixedStepSolver(RungeKuttaSolver):
    """Equal steps within each interval between output times; see :class:`FixedStepConfig`."""

    def __init__(self, config: FixedStepConfig | None = None) -> None:
        super().__init__()
        self.config = config or FixedStepConfig()

    def for_interval(self, t: Sequence[float], index: int) -> Solver:
        """A solver taking this interval's steps of a solve over ``t``, as one span of its own."""
        return type(self)(FixedStepConfig(steps=self.steps_per_interval(t)[index]))

    def steps_per_interval(self, times: Sequence[float]) -> list[int]:
        span = abs(times[-1] - times[0])
        step = self.config.step_size
        if step is None:
            step = span / (self.config.steps or 100)
        # The tolerance keeps an interval of exactly k steps at k despite rounding.
        return [max(1, math.ceil(abs(b - a) / step * (1 - 1e-12))) for a, b in itertools.pairwise(times)]

    def _run(
        self,
        ev: _rk.Evaluator,
        y0: torch.Tensor,
        q0: torch.Tensor | None,
        times: list[Any],
        quadrature_error: bool = True,
        **_: Any,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        steps = self.steps_per_interval([float(x.detach()) if isinstance(x, torch.Tensor) else float(x) for x in times])
        return _rk.solve_fixed(ev, self.tableau, y0, q0, times, steps, self.stats, self.name)


class AdaptiveSolver(RungeKuttaSolver):
    """Embedded-pair step-size control; see :class:`AdaptiveConfig`."""

    adaptive: ClassVar[bool] = True

    def __init__(self, config: AdaptiveConfig | None = None) -> None:
        super().__init__()
        self.config = config or AdaptiveConfig()

    def _run(
        self,
        ev: _rk.Evaluator,
        y0: torch.Tensor,
        q0: torch.Tensor | None,
        times: list[Any],
        quadrature_error: bool = True,
        norm_y: _rk.Norm = _rk.rms_norm,
        norm_q: _rk.Norm = _rk.rms_norm,
        **_: Any,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        c = self.config
        return _rk.solve_adaptive(
            ev,
            self.tableau,
            y0,
            q0,
            times,
            rtol=c.rtol,
            atol=c.atol,
            first_step=c.first_step,
            min_step=c.min_step,
            max_step=c.max_step,
            max_steps=c.max_steps,
            safety=c.safety,
            ifactor=c.ifactor,
            dfactor=c.dfactor,
            norm_y=norm_y,
            norm_q=norm_q,
            quadrature_error=quadrature_error,
            stats=self.stats,
            name=self.name,
        )


class Euler(FixedStepSolver):
    """Forward Euler, y ← y + h·f(t, y): order 1, one evaluation per step."""

    tableau = tableaus.EULER


class Midpoint(FixedStepSolver):
    """Explicit midpoint: order 2, two evaluations per step."""

    tableau = tableaus.MIDPOINT


class RK4(FixedStepSolver):
    """The classical Runge–Kutta method: order 4, four evaluations per step."""

    tableau = tableaus.RK4


class Bosh3(AdaptiveSolver):
    """Bogacki–Shampine 3(2), FSAL: three evaluations per step; cheap at loose tolerances."""

    tableau = tableaus.BOSH3


class Dopri5(AdaptiveSolver):
    """Dormand–Prince 5(4), FSAL, quartic dense output: six evaluations per step (MATLAB's ode45)."""

    tableau = tableaus.DOPRI5
