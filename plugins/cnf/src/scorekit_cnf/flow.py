"""Log-density, training loss and sampling of a continuous normalizing flow.

The flow carries data x = z(0) to z(t1) along dz/dt = f(z, t; θ), with z(t1) ~ N(0, I). Along the
way d log p(z(t))/dt = −tr(∂f/∂z) (the instantaneous change of variables, Chen et al. 2018), so

    log p(x) = log N(z(t1); 0, I) + ∫₀^{t1} tr(∂f/∂z(t)) dt,

solved as one augmented ODE in which the integral is a quadrature variable. The trace comes from
any registered TraceEstimator: exact for small d, Hutchinson's with one probe held fixed along
each solve in training (FFJORD, Grathwohl et al. 2019).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from scorekit.errors import UserError
from scorekit.interfaces import Likelihood, Loss, NoiseSchedule, Sampler, ScoreModel, Solver, Start, TraceEstimator
from scorekit.ode import flow_log_prob
from scorekit_cnf.config import CNFLikelihoodConfig, CNFLossConfig, CNFSamplerConfig

__all__ = ["CNFLikelihood", "CNFLoss", "CNFSampler", "cnf_log_prob", "standard_normal_log_prob"]


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per sample."""
    flat = z.reshape(z.shape[0], -1)
    return -0.5 * flat.square().sum(1) - 0.5 * flat.shape[1] * math.log(2 * math.pi)


def _velocity(model: Any, batch: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def func(t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return model(z, t.expand(batch))

    return func


def cnf_log_prob(
    model: Any,
    x: torch.Tensor,
    *,
    solver: Solver,
    estimator: TraceEstimator,
    t1: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log p_θ(x) per sample by the augmented ODE; differentiable when grad mode is on."""
    return flow_log_prob(
        _velocity(model, x.shape[0]),
        x,
        solver=solver,
        estimator=estimator,
        t0=0.0,
        t1=t1,
        prior_log_prob=standard_normal_log_prob,
        generator=generator,
    )


class CNFLoss(Loss):
    """−E log p_θ(x), maximum likelihood of the flow (Chen et al. 2018; Grathwohl et al. 2019)."""

    needs_schedule: ClassVar[bool] = False
    parametrization = "velocity"

    def __init__(self, config: CNFLossConfig) -> None:
        self.t1 = config.t1
        self.solver: Solver = config.solver.build()
        self.estimator: TraceEstimator = config.estimator.build()

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        log_p = cnf_log_prob(model, x0, solver=self.solver, estimator=self.estimator, t1=self.t1, generator=generator)
        return -log_p.mean()


class CNFLikelihood(Likelihood):
    """log p_θ(x) of the flow; the exact trace by default, so the value is deterministic."""

    parametrization = "velocity"

    def __init__(self, config: CNFLikelihoodConfig) -> None:
        self.t1 = config.t1
        self.solver: Solver = config.solver.build()
        self.estimator: TraceEstimator = config.estimator.build()

    def log_prob(
        self,
        model: ScoreModel,
        x: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        with torch.no_grad():
            return cnf_log_prob(model, x, solver=self.solver, estimator=self.estimator, t1=self.t1, generator=generator)


class CNFSampler(Sampler):
    """x = z(0) from z(t1) ~ N(0, I), integrating the flow backward in time; :meth:`encode` maps x to z."""

    needs_schedule: ClassVar[bool] = False
    parametrization: ClassVar[str] = "velocity"
    #: ``start.x`` is z(t1), or z(t) at ``start.t`` in (0, t1].
    accepts_start: ClassVar[bool] = True

    def __init__(self, config: CNFSamplerConfig) -> None:
        self.t1 = config.t1
        self.solver: Solver = config.solver.build()

    def sample(
        self,
        model: ScoreModel,
        shape: tuple[int, ...],
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        start: Start | None = None,
    ) -> torch.Tensor:
        t_start = self.t1
        if start is not None:
            if start.t is not None:
                if not (0.0 < start.t <= self.t1):
                    raise UserError(f"a start at t = {start.t:.6g} must lie in this flow's range (0, {self.t1:g}]")
                t_start = start.t
            z = start.x.to(device=device, dtype=dtype)
        else:
            z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        times = torch.tensor([t_start, 0.0], dtype=dtype, device=device)
        return self.solver.integrate(_velocity(model, shape[0]), z, times)[-1]

    def encode(self, model: ScoreModel, x: torch.Tensor, *, schedule: NoiseSchedule | None) -> torch.Tensor:
        """z(t1) of the flow integrated forward from x = z(0): :meth:`sample` from ``Start(z)`` returns x."""
        times = torch.tensor([0.0, self.t1], dtype=x.dtype, device=x.device)
        return self.solver.integrate(_velocity(model, x.shape[0]), x, times)[-1]
