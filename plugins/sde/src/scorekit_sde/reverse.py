"""Reverse-time sampling and exact likelihoods of score models (Song et al. 2021).

A forward SDE dx = f(x, t)dt + g(t)dw run backward in time is the reverse SDE (Anderson 1982)

    dx = [f(x, t) − g(t)²∇log p_t(x)]dt + g(t)dw̄,

and every p_t is also the marginal of the deterministic probability-flow ODE

    dx/dt = f(x, t) − ½g(t)²∇log p_t(x),

a continuous normalizing flow whose velocity is made of the score. With a trained score in place
of ∇log p_t the first gives samples (with optional Langevin corrector steps between predictor
steps), the second samples from any registered ODE Solver and the exact log-density through the
instantaneous change of variables with any TraceEstimator.

Any continuous NoiseSchedule is an SDE: its kernel x_t = a(t)·x₀ + s(t)·ε is the marginal of
f(x, t) = (d log a/dt)·x and g(t)² = ds²/dt − 2(d log a/dt)·s² (:class:`KernelSDE`), so these
samplers and the likelihood also serve NCSN's σ schedules (a = 1, g² = dσ²/dσ = 2σ, time = σ).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.grids import make_grid, start_grid
from scorekit.interfaces import (
    Corrector,
    Likelihood,
    NoiseSchedule,
    Predictor,
    Sampler,
    ScoreModel,
    Solver,
    Start,
    TraceEstimator,
)
from scorekit.ode import flow_log_prob
from scorekit.parametrization import convert
from scorekit.tensors import append_dims
from scorekit_sde.config import ProbabilityFlowConfig, ProbabilityFlowLikelihoodConfig, ReverseSDEConfig
from scorekit_sde.sde import SDE, GaussianSDE

__all__ = [
    "KernelSDE",
    "ProbabilityFlowLikelihood",
    "ProbabilityFlowSampler",
    "ReverseSDE",
    "ReverseSDESampler",
    "as_sde",
    "probability_flow",
]

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _derivative(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    if not y.requires_grad:  # a constant in t (a = 1 of a σ schedule)
        return torch.zeros_like(t)
    return torch.autograd.grad(y.sum(), t, retain_graph=True)[0]


class KernelSDE(GaussianSDE):
    """The SDE whose marginals are a continuous schedule's kernel N(a(t)·x₀, s(t)²I).

    f(t) = d log a/dt and g(t)² = ds²/dt − 2f(t)s², by automatic differentiation of ``kernel``;
    time runs over the schedule's range, levels()[−1] (eps) to levels()[0] (T), in its own
    coordinate (σ itself for a σ schedule, whose grid is then geometric).
    """

    def __init__(self, schedule: NoiseSchedule) -> None:
        levels = schedule.levels().double()
        super().__init__(float(levels.max()), float(levels.min()), len(levels))
        self.schedule = schedule

    def levels(self) -> torch.Tensor:
        return self.schedule.levels()

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.schedule.t_of_sigma(sigma)

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.schedule.kernel(t)

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        return self.schedule.sample_t(batch_size, generator=generator, device=device)

    def grid(self, steps: int) -> torch.Tensor:
        if self.schedule.sigma_conditioned:  # uniform in log σ: the VE SDE's uniform time grid
            return torch.logspace(math.log10(self.T), math.log10(self.eps), steps + 1, dtype=torch.float64)
        return super().grid(steps)

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(t), g(t)²), float64 of shape (B,)."""
        with torch.enable_grad():
            t_ = t.detach().double().requires_grad_(True)
            a, s = self.schedule.kernel(t_)
            log_a, variance = a.double().log(), s.double().square()
            f = _derivative(log_a, t_)
            g2 = _derivative(variance, t_) - 2 * f * variance
        return f.detach(), g2.detach().clamp(min=0)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return append_dims(self.coefficients(t)[0].to(x.dtype), x) * x

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.coefficients(t)[1].sqrt().to(t.dtype)


def as_sde(schedule: NoiseSchedule | None) -> GaussianSDE:
    """The run's schedule as an SDE: itself for the sde plugin's, a :class:`KernelSDE` for other continuous ones."""
    if isinstance(schedule, GaussianSDE):
        return schedule
    if schedule is None:
        raise ConfigError("the reverse SDE and the probability-flow ODE need a [schedule] section @ $.schedule")
    if not schedule.continuous:
        raise ConfigError(
            f"{type(schedule).__name__} is discrete: its model is defined only at its levels, so it has no SDE; "
            "use a continuous schedule ('vp' is DDPM's continuous limit, 've' NCSN's, or a σ schedule) @ $.schedule"
        )
    return KernelSDE(schedule)


class ReverseSDE(SDE):
    """dx = [f − g²·score]dt + g dw̄, integrated with decreasing t (Anderson 1982; Song et al. 2021, eq. 6)."""

    def __init__(self, sde: SDE, score: Score) -> None:
        self.sde, self.score = sde, score

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        g2 = append_dims(self.sde.diffusion(t).square().to(x.dtype), x)
        return self.sde.drift(x, t) - g2 * self.score(x, t)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return self.sde.diffusion(t)


def probability_flow(sde: SDE, score: Score, batch: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The ODE velocity v(t, x) = f(x, t) − ½g(t)²·score(x, t), for a Solver (t a 0-dim tensor)."""

    def velocity(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        t_batch = t.expand(batch)
        g2 = append_dims(sde.diffusion(t_batch).square().to(x.dtype), x)
        return sde.drift(x, t_batch) - 0.5 * g2 * score(x, t_batch)

    return velocity


def _denoise(sde: GaussianSDE, model: ScoreModel, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Tweedie's formula E[x₀ ∣ x_t] = (x_t + s²∇log p_t(x_t))/a: the model's prediction read as x₀."""
    a, s = sde.kernel(t)
    return convert(model(x, t), x, a, s, source=model.parametrization, target="x0")


class _SDESampler(Sampler):
    needs_schedule: ClassVar[bool] = True
    accepts_start: ClassVar[bool] = True

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        as_sde(schedule)

    def prior_std(self, schedule: NoiseSchedule | None) -> float | None:
        return as_sde(schedule).prior_std()


class ReverseSDESampler(_SDESampler):
    """Predictor–corrector sampling (Song et al. 2021, Algorithms 2–3) of the reverse-time SDE.

    From x_T ~ the prior, at each time of the grid: ``corrector_steps`` steps of the configured
    :class:`~scorekit.interfaces.Corrector` (``langevin``: x ← x + εs + √(2ε)z with
    ε = 2(r‖z‖/‖s‖)²), then one step of the configured :class:`~scorekit.interfaces.Predictor`
    (``euler_maruyama``, ``heun``, or a plugin's) to the next time. With ``denoise`` the last x_eps
    is replaced by Tweedie's E[x₀ ∣ x_eps].
    """

    def __init__(self, config: ReverseSDEConfig) -> None:
        self.config = config
        self.predictor: Predictor = config.predictor.build()
        self.corrector: Corrector = config.corrector.build()

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        config = self.config
        per_step = config.corrector_steps * self.corrector.evaluations + self.predictor.evaluations
        return (len(self._grid(as_sde(schedule))) - 1) * per_step + int(config.denoise)

    def _grid(self, sde: GaussianSDE) -> torch.Tensor:
        """The ``steps + 1`` times walked, T first (fewer for a ``levels`` grid on fewer levels)."""
        config = self.config
        return sde.grid(config.steps) if config.grid == "sde" else make_grid(sde, config.grid, config.steps + 1)

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
        sde = as_sde(schedule)
        config = self.config
        grid = self._grid(sde)
        if start is not None and start.t is not None:
            grid = start_grid(grid, start.t, sde)
        reverse = ReverseSDE(sde, model)
        if start is not None:
            x = start.x.to(device=device, dtype=dtype, copy=True)
        else:
            x = sde.prior_sample(shape, generator=generator, device=device, dtype=dtype)
        times = grid.to(device=device, dtype=dtype)[:, None].expand(len(grid), shape[0])
        dw = torch.empty_like(x)
        for k in range(len(grid) - 1):
            for _ in range(config.corrector_steps):
                x = self.corrector.step(model, x, times[k], generator=generator)
            step = math.sqrt(abs(float(grid[k + 1] - grid[k])))
            x = self.predictor.step(
                reverse, x, float(grid[k]), float(grid[k + 1]), dw.normal_(generator=generator) * step
            )
        if config.denoise:
            x = _denoise(sde, model, x, times[-1])
        return x


class ProbabilityFlowSampler(_SDESampler):
    """Samples of the probability-flow ODE: x_T ~ the prior, solved from T to eps by the configured Solver."""

    def __init__(self, config: ProbabilityFlowConfig) -> None:
        self.config = config
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
        sde = as_sde(schedule)
        t_start = sde.T
        if start is not None:
            if start.t is not None:
                t_start = float(start_grid(torch.tensor([sde.T, sde.eps], dtype=torch.float64), start.t, sde)[0])
            x = start.x.to(device=device, dtype=dtype, copy=True)
        else:
            x = sde.prior_sample(shape, generator=generator, device=device, dtype=dtype)
        times = torch.tensor([t_start, sde.eps], dtype=dtype, device=device)
        velocity = probability_flow(sde, model, shape[0])
        x = self.solver.integrate(velocity, x, times)[-1]
        if self.config.denoise:
            x = _denoise(sde, model, x, times[-1].expand(shape[0]))
        return x

    def encode(self, model: ScoreModel, x: torch.Tensor, *, schedule: NoiseSchedule | None) -> torch.Tensor:
        """x_T of the probability-flow ODE solved from eps to T with ``x`` as x_eps: :meth:`sample` from
        ``Start(x_T)`` (with ``denoise = false``) returns ``x`` up to the solver's error (Song et al. 2021,
        §4.3, "encoding")."""
        sde = as_sde(schedule)
        times = torch.tensor([sde.eps, sde.T], dtype=x.dtype, device=x.device)
        return self.solver.integrate(probability_flow(sde, model, x.shape[0]), x, times)[-1]


class ProbabilityFlowLikelihood(Likelihood):
    """log p_eps(x) of a score model through its probability-flow ODE (Song et al. 2021, §4.3).

    log p_eps(x) = log p_T(x(T)) + ∫_eps^T tr(∂v/∂x(t)) dt, with v the ODE's velocity and p_T the
    SDE's prior. The model may predict the score, ε, x₀ or v (converted through the kernel). This
    is the density of the data blurred by the kernel at eps (s(eps) = 0.01 for the default VP SDE).
    """

    needs_schedule = True

    def __init__(self, config: ProbabilityFlowLikelihoodConfig) -> None:
        self.solver: Solver = config.solver.build()
        self.estimator: TraceEstimator = config.estimator.build()

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        as_sde(schedule)

    def log_prob(
        self,
        model: ScoreModel,
        x: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        sde = as_sde(schedule)
        with torch.no_grad():
            return flow_log_prob(
                probability_flow(sde, model, x.shape[0]),
                x,
                solver=self.solver,
                estimator=self.estimator,
                t0=sde.eps,
                t1=sde.T,
                prior_log_prob=sde.prior_log_prob,
                generator=generator,
            )
