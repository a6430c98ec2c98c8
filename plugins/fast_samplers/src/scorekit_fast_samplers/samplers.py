"""Few-step samplers of the probability-flow ODE, written in the noise-to-signal ratio σ = s/a.

For any Gaussian kernel x_t = a(t)·x₀ + s(t)·ε, the scaled state x̃ = x/a is x₀ plus noise of std
σ(t) = s(t)/a(t), and the probability-flow ODE becomes the same equation for every schedule
(Karras et al. 2022, eq. 4 with s(t) = 1 after the change of variables):

    dx̃/dσ = (x̃ − D(x̃; σ))/σ,        D(x̃; σ) = E[x₀ ∣ x_t = a·x̃],

the denoiser being the model's x₀ prediction (the engine converts ε, score or v into it through the
kernel). So one sampler serves σ schedules (a = 1), VE, VP and sub-VP SDEs and DDPM's discrete
chain alike; the grid of times comes from :mod:`scorekit.grids` (Karras' ρ = 7 by default) and each
time's σ from the schedule's kernel. The model is evaluated at x = a(t)·x̃ and t.

- Euler and Heun: Karras et al. 2022, Algorithm 1 (orders 1 and 2).
- Stochastic: Algorithm 2 — before each step, noise raises σ_i to σ̂ = (1 + γ)·σ_i.
- DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
  Probabilistic Models", Algorithm 2 and its third-order multistep extension): in λ = −log σ the
  ODE is x̃(λ_{i+1}) = (σ_{i+1}/σ_i)·x̃(λ_i) + σ_{i+1}∫ e^λ D dλ, and the integral is taken with D
  extrapolated from the last one, two or three evaluations.

With ``denoise`` the walk ends with the step from the grid's last σ to 0, x̃ = D(x̃; σ_min).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.grids import make_grid, sigma_of, start_grid
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel, Start
from scorekit_fast_samplers.config import DPMSolverConfig, KarrasConfig, KarrasStochasticConfig, UniPCConfig

__all__ = ["DPMSolverPP", "KarrasEuler", "KarrasHeun", "KarrasStochastic", "UniPC"]

#: Grids of fewer times than this take 3M's last step before σ_min at order 2.
LOWER_ORDER_FINAL_BELOW = 15


class _SigmaSampler(Sampler):
    """The shared frame: grid, σ and a per time, the start x̃₀, the model as a denoiser D(x̃, k)."""

    needs_schedule: ClassVar[bool] = True
    parametrization: ClassVar[str] = "x0"
    accepts_start: ClassVar[bool] = True
    #: Model evaluations per step between two grid times.
    per_step: ClassVar[int] = 1

    def __init__(self, config: KarrasConfig) -> None:
        self.config = config

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        assert schedule is not None
        if len(self._times(schedule)) < 2:
            raise ConfigError(f"{type(self).__name__}: the grid has fewer than 2 times on this schedule @ $.sampler")

    def _times(self, schedule: NoiseSchedule) -> torch.Tensor:
        return make_grid(schedule, self.config.grid, self.config.steps + 1)

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        if schedule is None:
            return None
        steps = len(self._times(schedule)) - 1
        return steps * self.per_step + int(self.config.denoise)

    def prior_std(self, schedule: NoiseSchedule | None) -> float | None:
        if schedule is None:
            return None
        a, s = (float(v) for v in schedule.kernel(self._times(schedule)[:1]))
        return math.hypot(a, s)

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
        self.check(schedule)
        assert schedule is not None
        times = self._times(schedule)
        if start is not None and start.t is not None:
            times = start_grid(times, start.t, schedule)
        a = schedule.kernel(times)[0].double().tolist()
        sigmas = sigma_of(schedule, times).tolist()
        if start is not None:
            x = start.x.to(device=device, dtype=dtype) / a[0]
        else:
            std = math.sqrt(1.0 + sigmas[0] ** 2)  # x = a·x̃ ~ N(0, a² + s²) for data of unit variance
            x = std * torch.randn(shape, generator=generator, device=device, dtype=dtype)
        frame = _Frame(model, schedule, times, a, sigmas, shape[0], device, dtype, self.config.clip_x0)
        x = self._walk(x, frame, generator)
        if self.config.denoise:
            return frame.denoise(x, len(times) - 1)
        return x * a[-1]  # x_t at the grid's last time, as the other samplers end without denoising

    def _walk(self, x: torch.Tensor, frame: _Frame, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError


class _Frame:
    """The walk's times, their a and σ, and the model as a denoiser D(x̃; σ) = x̂₀(a·x̃, t)."""

    def __init__(
        self,
        model: ScoreModel,
        schedule: NoiseSchedule,
        times: torch.Tensor,
        a: list[float],
        sigmas: list[float],
        rows: int,
        device: torch.device | str,
        dtype: torch.dtype,
        clip: float | None = None,
    ) -> None:
        self.model, self.schedule, self.a, self.sigmas, self.clip = model, schedule, a, sigmas, clip
        self.rows, self.device, self.dtype = rows, device, dtype
        # One (B,) time tensor per grid time, made before the loop: rows of an expanded column.
        self.t_rows = times.to(device=device, dtype=dtype)[:, None].expand(len(times), rows)

    def denoise(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """D(x̃; σ_k) at the grid's time k."""
        return self.evaluate(x * self.a[k], self.t_rows[k])

    def evaluate(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x̂₀(x_t, t), clamped to [−clip, clip] when the sampler clips."""
        denoised = self.model(x, t)
        return denoised if self.clip is None else denoised.clamp(-self.clip, self.clip)

    def at_sigma(self, sigma: float) -> tuple[float, float, torch.Tensor]:
        """(a, σ, t rows) of the schedule's time whose σ is nearest ``sigma`` (exact on a continuous one)."""
        t = self.schedule.t_of_sigma(torch.tensor([sigma], dtype=torch.float64))
        a, s = (float(v) for v in self.schedule.kernel(t))
        return a, s / a, t.to(device=self.device, dtype=self.dtype).expand(self.rows)


class KarrasEuler(_SigmaSampler):
    """Euler steps x̃ ← x̃ + (σ_{i+1} − σ_i)·(x̃ − D(x̃; σ_i))/σ_i (Karras et al. 2022, Alg. 1 without its
    second-order correction): order 1, one evaluation per step."""

    config: KarrasConfig

    def _walk(self, x: torch.Tensor, frame: _Frame, generator: torch.Generator | None) -> torch.Tensor:
        sigmas = frame.sigmas
        for i in range(len(sigmas) - 1):
            d = (x - frame.denoise(x, i)) / sigmas[i]
            x = x + (sigmas[i + 1] - sigmas[i]) * d
        return x


class KarrasHeun(_SigmaSampler):
    """Heun's method on the σ-ODE (Karras et al. 2022, Alg. 1): an Euler step, then the trapezoid of the
    slopes at both ends; order 2, two evaluations per step."""

    config: KarrasConfig
    per_step = 2

    def _walk(self, x: torch.Tensor, frame: _Frame, generator: torch.Generator | None) -> torch.Tensor:
        sigmas = frame.sigmas
        for i in range(len(sigmas) - 1):
            h = sigmas[i + 1] - sigmas[i]
            d = (x - frame.denoise(x, i)) / sigmas[i]
            guess = x + h * d
            d_next = (guess - frame.denoise(guess, i + 1)) / sigmas[i + 1]
            x = x + h * 0.5 * (d + d_next)
        return x


class KarrasStochastic(_SigmaSampler):
    """Karras et al. 2022, Algorithm 2: where S_tmin ≤ σ_i ≤ S_tmax, noise of std √(σ̂² − σ_i²)·S_noise raises
    σ_i to σ̂ = (1 + γ)σ_i, γ = min(S_churn/steps, √2 − 1); then a Heun step from σ̂ to σ_{i+1}.

    σ̂ is off the grid: the model is evaluated at t(σ̂) (``NoiseSchedule.t_of_sigma``), so on a discrete
    schedule (DDPM's chain) the churn snaps to the nearest level's σ.
    """

    config: KarrasStochasticConfig
    per_step = 2

    def _walk(self, x: torch.Tensor, frame: _Frame, generator: torch.Generator | None) -> torch.Tensor:
        config, sigmas = self.config, frame.sigmas
        steps = len(sigmas) - 1
        gamma_max = min(config.s_churn / max(steps, 1), math.sqrt(2.0) - 1.0)
        for i in range(steps):
            sigma_hat, denoised = sigmas[i], None
            if gamma_max > 0 and config.s_tmin <= sigmas[i] <= config.s_tmax:
                a_hat, sigma_hat, t_hat = frame.at_sigma(sigmas[i] * (1 + gamma_max))
                if sigma_hat > sigmas[i]:
                    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                    x = x + math.sqrt(sigma_hat**2 - sigmas[i] ** 2) * config.s_noise * noise
                    denoised = frame.evaluate(x * a_hat, t_hat)
                else:  # the schedule has no level above σ_i near enough: no churn this step
                    sigma_hat = sigmas[i]
            if denoised is None:
                denoised = frame.denoise(x, i)
            h = sigmas[i + 1] - sigma_hat
            d = (x - denoised) / sigma_hat
            guess = x + h * d
            d_next = (guess - frame.denoise(guess, i + 1)) / sigmas[i + 1]
            x = x + h * 0.5 * (d + d_next)
        return x


class DPMSolverPP(_SigmaSampler):
    """DPM-Solver++ multistep in λ = −log σ (Lu et al. 2022): with h = λ_{i+1} − λ_i and the data
    predictions D_i, D_{i−1}, D_{i−2},

        x̃_{i+1} = (σ_{i+1}/σ_i)·x̃_i + (1 − e^{−h})·D_i + c₂·D′ − φ₃·D″,

    with D′ = (D_i − D_{i−1})/r (r = h_{i−1}/h) and D″ the second divided difference. Order 1 (DDIM)
    drops both; 2M takes c₂ = (1 − e^{−h})/2, D″ = 0 (the paper's Algorithm 2, as diffusers'
    ``DPMSolverMultistepScheduler`` with its default ``solver_type = "midpoint"``); 3M takes
    c₂ = φ₂ = (e^{−h} − 1)/h + 1 and φ₃ = φ₂/h − ½. The first steps use the orders their history
    allows. One evaluation per step.
    """

    config: DPMSolverConfig

    def _walk(self, x: torch.Tensor, frame: _Frame, generator: torch.Generator | None) -> torch.Tensor:
        sigmas = frame.sigmas
        history: list[tuple[torch.Tensor, float]] = []  # (D_j, λ_j), newest last
        for i in range(len(sigmas) - 1):
            lam, lam_next = -math.log(sigmas[i]), -math.log(sigmas[i + 1])
            h = lam_next - lam
            d_now = frame.denoise(x, i)
            ratio = sigmas[i + 1] / sigmas[i]
            x = ratio * x + (-math.expm1(-h)) * d_now
            order = min(self.config.order, len(history) + 1)
            lowered = (
                self.config.lower_order_final
                and order == 3
                and i == len(sigmas) - 2
                and len(sigmas) < LOWER_ORDER_FINAL_BELOW
            )
            if lowered:
                # On short grids the last step before σ_min is long: 3M takes it at order 2, in 2M's form
                # (diffusers' lower_order_final; Lu et al. 2022 lower the order at the end likewise).
                order = 2
            if order >= 2:
                phi2 = math.expm1(-h) / h + 1.0
                d_prev, lam_prev = history[-1]
                r0 = (lam - lam_prev) / h
                first = (d_now - d_prev) / r0
                if order == 2 and (self.config.order == 2 or lowered):
                    # 2M as Lu et al. 2022 write it (Alg. 2): D_i + (D_i − D_{i−1})/(2r) in the first-order update.
                    x = x + 0.5 * (-math.expm1(-h)) * first
                elif order == 2:  # 3M's second step: the φ₂ form of its own expansion
                    x = x + phi2 * first
                else:
                    d_prev2, lam_prev2 = history[-2]
                    r1 = (lam_prev - lam_prev2) / h
                    first_prev = (d_prev - d_prev2) / r1
                    slope = first + (first - first_prev) * r0 / (r0 + r1)
                    curvature = (first - first_prev) / (r0 + r1)
                    phi3 = phi2 / h - 0.5
                    x = x + phi2 * slope - phi3 * curvature
            history = [*history[-1:], (d_now, lam)]
        return x


def _unipc_coefficients(rks: list[float], h: float, order: int) -> tuple[float, list[float], list[list[float]]]:
    """B(h) = e^{−h} − 1 ("bh2") and the system R·ρ = b of UniPC (Zhao et al. 2023, Alg. 1–2) for the data
    prediction in λ = −log σ: R's rows are r_k^{i−1} (i = 1 … order), b_i = i!·hφ_{i+1}/B(h) with the
    φ-functions at −h from the recurrence hφ_{k+1} = hφ_k/(−h) − 1/k! (as diffusers computes them)."""
    hh = -h
    b_h = math.expm1(hh)  # with bh2, B(h) is also hφ₁(−h), where the recurrence starts
    h_phi_k = b_h / hh - 1.0
    factorial = 1
    rows, b = [], []
    for i in range(1, order + 1):
        rows.append([r ** (i - 1) for r in rks])
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    return b_h, b, rows


class UniPC(_SigmaSampler):
    """UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
    Diffusion Models"): the data-prediction predictor UniP of ``order`` in λ = −log σ with B(h) = e^{−h} − 1
    ("bh2"), and after each step the corrector UniC, which uses the model evaluation at the new point —
    the one the next step needs anyway — so it adds no evaluation. One evaluation per step; the last
    step is of order 1 (the denoising step to σ = 0). Follows diffusers' ``UniPCMultistepScheduler``
    with its defaults (``solver_type = "bh2"``, ``lower_order_final``).
    """

    config: UniPCConfig

    def _walk(self, x: torch.Tensor, frame: _Frame, generator: torch.Generator | None) -> torch.Tensor:
        sigmas = frame.sigmas
        lambdas = [-math.log(s) for s in sigmas]
        total = len(sigmas)  # the grid's times; the denoising step after the walk is the last "step"
        outputs: list[torch.Tensor] = []  # model outputs D at the times walked so far
        last_x: torch.Tensor | None = None
        last_order = 1
        for i in range(total - 1):
            d_now = frame.denoise(x, i)
            if last_x is not None:  # UniC: correct x at λ_i with the evaluation just made there
                x = self._correct(last_x, outputs, d_now, lambdas, i, last_order)
            outputs.append(d_now)
            order = min(self.config.order, total - i, len(outputs))
            last_x, last_order = x, order
            x = self._predict(x, outputs, lambdas, i, order)
        return x

    @staticmethod
    def _predict(
        x: torch.Tensor, outputs: list[torch.Tensor], lambdas: list[float], i: int, order: int
    ) -> torch.Tensor:
        h = lambdas[i + 1] - lambdas[i]
        m0 = outputs[-1]
        rks = [(lambdas[i - k] - lambdas[i]) / h for k in range(1, order)]
        d1s = [(outputs[-(k + 1)] - m0) / rks[k - 1] for k in range(1, order)]
        b_h, b, rows = _unipc_coefficients([*rks, 1.0], h, order)
        x = math.exp(-h) * x + (-math.expm1(-h)) * m0
        if order == 2:
            rhos = [0.5]
        elif order > 2:
            matrix = torch.tensor([row[:-1] for row in rows[:-1]], dtype=torch.float64)
            rhos = torch.linalg.solve(matrix, torch.tensor(b[:-1], dtype=torch.float64)).tolist()
        else:
            return x
        return x - b_h * sum(rho * d1 for rho, d1 in zip(rhos, d1s, strict=True))

    @staticmethod
    def _correct(
        last_x: torch.Tensor, outputs: list[torch.Tensor], d_now: torch.Tensor, lambdas: list[float], i: int, order: int
    ) -> torch.Tensor:
        """x at λ_i again, from x at λ_{i−1} with the outputs there and before and the new one D(x_i)."""
        h = lambdas[i] - lambdas[i - 1]
        m0 = outputs[-1]
        rks = [(lambdas[i - 1 - k] - lambdas[i - 1]) / h for k in range(1, order)]
        d1s = [(outputs[-(k + 1)] - m0) / rks[k - 1] for k in range(1, order)]
        b_h, b, rows = _unipc_coefficients([*rks, 1.0], h, order)
        if order == 1:
            rhos = [0.5]
        else:
            matrix = torch.tensor(rows, dtype=torch.float64)
            rhos = torch.linalg.solve(matrix, torch.tensor(b, dtype=torch.float64)).tolist()
        x = math.exp(-h) * last_x + (-math.expm1(-h)) * m0
        correction = sum((rho * d1 for rho, d1 in zip(rhos[:-1], d1s, strict=True)), torch.zeros_like(m0))
        return x - b_h * (correction + rhos[-1] * (d_now - m0))
