"""Solver: integrates dy/dt = f(t, y) over a grid of output times."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs
import torch

__all__ = ["Norm", "QuadratureFunc", "Solution", "SolveStats", "Solver"]

#: ``func(t, y) -> (dy/dt, dq/dt)``: the dynamics of a state y and of quadrature variables q
#: that the dynamics never read (a CNF's log-density, the adjoint's parameter gradient).
QuadratureFunc = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@attrs.define
class SolveStats:
    """Counts of one solve: function evaluations and steps, forward and (for the adjoint) backward.

    The backward fields are filled when the gradient is computed, so a ``SolveStats`` returned by a
    forward solve reads its backward counts after ``loss.backward()``.
    """

    nfe: int = 0
    accepted: int = 0
    rejected: int = 0
    backward_nfe: int = 0
    backward_accepted: int = 0
    backward_rejected: int = 0

    def add(self, other: SolveStats, *, backward: bool = False) -> None:
        """Add ``other``'s forward counts to this one's forward (or backward) counts."""
        if backward:
            self.backward_nfe += other.nfe
            self.backward_accepted += other.accepted
            self.backward_rejected += other.rejected
        else:
            self.nfe += other.nfe
            self.accepted += other.accepted
            self.rejected += other.rejected


@attrs.frozen
class Solution:
    """What one solve returns: ``ys`` (len(t), *y0.shape), ``qs`` (len(t), *q0.shape) for quadrature
    variables (None without), and ``stats``, the counts of this solve alone. For the adjoint the
    backward counts are added to this same ``stats`` when the gradient is computed."""

    ys: torch.Tensor
    qs: torch.Tensor | None
    stats: SolveStats


#: ``norm(scaled_error) -> 0-dim`` tensor: how an adaptive solver measures a step's scaled error.
Norm = Callable[[torch.Tensor], torch.Tensor]


class Solver(ABC):
    """An ODE solver: y(t_k) = y(t_0) + ∫_{t_0}^{t_k} f(t, y) dt at every time of ``t``.

    ``y0`` may have any shape; the result has shape (len(t), *y0.shape) with ``result[0] == y0``.
    ``t`` is a 1-D tensor, strictly monotone (increasing or decreasing). ``func(t, y)`` gets ``t``
    as a 0-dim tensor of y's dtype and device. :meth:`solve` returns the solution with its
    statistics (function evaluations, accepted and rejected steps, the first-class figures for
    comparing solvers); :meth:`integrate` returns the states alone.

    Gradients: a solver backpropagates through its own steps unless it says otherwise; the adjoint
    method (plugin ``adjoint_ode``) is a Solver that wraps another one and finds the tensors ``func``
    depends on by itself, so no solver takes adjoint-only arguments.

    Example::

        solution = solver.solve(lambda t, y: -y, torch.ones(3), torch.linspace(0, 1, 5))
        solution.ys[-1], solution.stats.nfe
    """

    #: Order of accuracy of one step (1 for Euler, 4 for RK4, 5 for Dormand–Prince).
    order: ClassVar[int]
    #: True for solvers that choose their own step sizes from rtol/atol.
    adaptive: ClassVar[bool] = False

    #: The statistics of the latest solve (the same object as that solve's ``Solution.stats``).
    stats: SolveStats

    @property
    def nfe(self) -> int:
        """Function evaluations of the last forward solve."""
        stats = getattr(self, "stats", None)
        return 0 if stats is None else stats.nfe

    @abstractmethod
    def integrate(
        self, func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y0: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Solve from ``t[0]`` through every time of ``t``; returns (len(t), *y0.shape).

        Set :attr:`stats` to a fresh :class:`SolveStats` of this solve (:meth:`solve` returns it).
        """

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
        """Solve for y and quadrature variables q with dq/dt = g(t, y); returns (ys, qs).

        Quadrature variables (as in SUNDIALS' CVODES) never enter the dynamics, so an RK solver need
        not form their stage values, and ``quadrature_error=False`` leaves them out of the step-size
        control (the "seminorm" of Kidger et al. 2021). ``norms`` (norm of y's, norm of q's scaled
        error) replace an adaptive solver's RMS norms; others ignore them. This default concatenates
        y and q and calls :meth:`integrate`; solvers override it to exploit the structure.
        """
        y_numel = y0.numel()

        def joint(t_: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            dy, dq = func(t_, state[:y_numel].view_as(y0))
            return torch.cat([dy.reshape(-1), dq.reshape(-1)])

        out = self.integrate(joint, torch.cat([y0.reshape(-1), q0.reshape(-1)]), t)
        return out[:, :y_numel].reshape(len(t), *y0.shape), out[:, y_numel:].reshape(len(t), *q0.shape)

    def solve(
        self,
        func: Callable[[torch.Tensor, torch.Tensor], Any],
        y0: torch.Tensor,
        t: torch.Tensor,
        *,
        q0: torch.Tensor | None = None,
        quadrature_error: bool = True,
    ) -> Solution:
        """:meth:`integrate` (or, with ``q0``, :meth:`integrate_quadrature`), with this solve's statistics."""
        if q0 is None:
            return Solution(self.integrate(func, y0, t), None, self.stats)
        ys, qs = self.integrate_quadrature(func, y0, q0, t, quadrature_error=quadrature_error)
        return Solution(ys, qs, self.stats)

    def for_interval(self, t: Sequence[float], index: int) -> Solver:
        """The solver that re-solves the interval [t[index], t[index + 1]] of a solve over ``t`` with the
        same discretization (the adjoint's backward pass). ``self`` by default; a fixed-step solver,
        whose steps depend on the whole span, returns one with that interval's steps."""
        return self
