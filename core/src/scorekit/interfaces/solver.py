"""Solver: integrates dy/dt = f(t, y) over a grid of output times."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch

__all__ = ["Solver"]


class Solver(ABC):
    """An ODE solver: y(t_k) = y(t_0) + ∫_{t_0}^{t_k} f(t, y) dt at every time of ``t``.

    ``y0`` may have any shape; the result has shape (len(t), *y0.shape) with ``result[0] == y0``.
    ``t`` is strictly monotone (increasing or decreasing). ``nfe`` counts function evaluations of
    the last call, a first-class statistic for comparing solvers.

    Example::

        ys = solver.integrate(lambda t, y: -y, torch.ones(3), torch.linspace(0, 1, 5))
    """

    #: Order of accuracy of one step (1 for Euler, 4 for RK4, 5 for Dormand–Prince).
    order: ClassVar[int]
    #: True for solvers that choose their own step sizes from rtol/atol.
    adaptive: ClassVar[bool] = False

    nfe: int = 0

    @abstractmethod
    def integrate(
        self, func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], y0: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """Solve from ``t[0]`` through every time of ``t``; returns (len(t), *y0.shape)."""
