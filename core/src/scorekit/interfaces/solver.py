"""Solver: integrates dy/dt = f(t, y) over a grid of output times."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import attrs
import torch

__all__ = ["QuadratureFunc", "SolveStats", "Solver"]

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


class Solver(ABC):
    """An ODE solver: y(t_k) = y(t_0) + ∫_{t_0}^{t_k} f(t, y) dt at every time of ``t``.

    ``y0`` may have any shape; the result has shape (len(t), *y0.shape) with ``result[0] == y0``.
    ``t`` is a 1-D tensor, strictly monotone (increasing or decreasing). ``func(t, y)`` gets ``t``
    as a 0-dim tensor of y's dtype and device. ``stats`` holds the counts of the last call
    (function evaluations, accepted and rejected steps), first-class statistics for comparing solvers.

    Gradients: a solver backpropagates through its own steps unless it says otherwise; the adjoint
    method (plugin ``adjoint_ode``) is a Solver that wraps another one and needs ``params``, the
    tensors ``func`` closes over (for an ``nn.Module`` func, its parameters by default).

    Example::

        ys = solver.integrate(lambda t, y: -y, torch.ones(3), torch.linspace(0, 1, 5))
    """

    #: Order of accuracy of one step (1 for Euler, 4 for RK4, 5 for Dormand–Prince).
    order: ClassVar[int]
    #: True for solvers that choose their own step sizes from rtol/atol.
    adaptive: ClassVar[bool] = False

    stats: SolveStats

    @property
    def nfe(self) -> int:
        """Function evaluations of the last forward solve."""
        stats = getattr(self, "stats", None)
        return 0 if stats is None else stats.nfe

    @abstractmethod
    def integrate(
        self,
        func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        y0: torch.Tensor,
        t: torch.Tensor,
        *,
        params: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Solve from ``t[0]`` through every time of ``t``; returns (len(t), *y0.shape)."""

    def integrate_quadrature(
        self,
        func: QuadratureFunc,
        y0: torch.Tensor,
        q0: torch.Tensor,
        t: torch.Tensor,
        *,
        params: Sequence[torch.Tensor] | None = None,
        quadrature_error: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Solve for y and quadrature variables q with dq/dt = g(t, y); returns (ys, qs).

        Quadrature variables (as in SUNDIALS' CVODES) never enter the dynamics, so an RK solver need
        not form their stage values, and ``quadrature_error=False`` leaves them out of the step-size
        control (the "seminorm" of Kidger et al. 2021). This default concatenates y and q and calls
        :meth:`integrate`; solvers override it to exploit the structure.
        """
        y_numel = y0.numel()

        def joint(t_: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            dy, dq = func(t_, state[:y_numel].view_as(y0))
            return torch.cat([dy.reshape(-1), dq.reshape(-1)])

        out = self.integrate(joint, torch.cat([y0.reshape(-1), q0.reshape(-1)]), t, params=params)
        return out[:, :y_numel].reshape(len(t), *y0.shape), out[:, y_numel:].reshape(len(t), *q0.shape)
