"""The built-in predictors (Euler–Maruyama, Heun) and corrector (Langevin) of ``reverse_sde``."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch

from scorekit.interfaces import Corrector, Predictor, ReverseTimeSDE
from scorekit.tensors import batch_sum
from scorekit_sde.config import LangevinCorrectorConfig, SchemeConfig
from scorekit_sde.solvers import sde_step

__all__ = ["EulerMaruyamaPredictor", "HeunPredictor", "LangevinCorrector"]


class _SolverStepPredictor(Predictor):
    """A step of :func:`scorekit_sde.solvers.sde_step` with the scheme ``method``; no options."""

    method: ClassVar[str]

    def __init__(self, config: SchemeConfig | None = None) -> None:
        pass

    def step(self, sde: ReverseTimeSDE, x: torch.Tensor, t: float, t_next: float, dw: torch.Tensor) -> torch.Tensor:
        return sde_step(sde, x, t, t_next, dw, method=self.method)  # type: ignore[arg-type]


class EulerMaruyamaPredictor(_SolverStepPredictor):
    """x ← x + f(x, t)Δt + g(t)ΔW̄ (strong order 1 for additive noise)."""

    method = "euler_maruyama"


class HeunPredictor(_SolverStepPredictor):
    """The stochastic Heun step: the trapezoidal rule on f and g over the same ΔW̄ (two drift evaluations)."""

    method = "heun"
    evaluations: ClassVar[int] = 2


class LangevinCorrector(Corrector):
    """x ← x + εs + √(2ε)z, ε = 2(r‖z‖/‖s‖)² (Song et al. 2021, Algorithm 4; norms averaged over the batch)."""

    def __init__(self, config: LangevinCorrectorConfig | None = None) -> None:
        self.snr = (config or LangevinCorrectorConfig()).snr

    def step(
        self,
        score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        t: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        s = score(x, t)
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        z_norm = batch_sum(z.square()).sqrt().mean()
        score_norm = batch_sum(s.square()).sqrt().mean()
        step = 2 * (self.snr * z_norm / score_norm).square()
        return x + step * s + (2 * step).sqrt() * z
