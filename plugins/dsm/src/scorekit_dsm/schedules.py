"""σ schedules of noise-conditional score networks: the kernel x̃ = x + σ·ε (a = 1, s = σ)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from scorekit.interfaces import NoiseSchedule
from scorekit.tensors import append_dims
from scorekit_dsm.config import ExplicitSigmasConfig, GeometricScheduleConfig

__all__ = ["ExplicitSigmas", "GeometricSchedule", "SigmaSchedule"]


class SigmaSchedule(NoiseSchedule):
    """A decreasing σ₁ > … > σ_L; the level t *is* σ and q(x̃ ∣ x) = N(x, σ²I).

    ``training`` says how σ is drawn in training (:data:`scorekit_dsm.config.TRAINING`). By default
    ("continuous") log σ is uniform over [log σ_L − h_L, log σ₁ + h₁], h the half log-step to the
    neighbouring level, folded back into [log σ_L, log σ₁] at the ends: a network continuous in σ
    learns every σ of the range, and each level, the end ones too, has the same training mass
    within half a step of it. "levels" leaves the score between the levels untrained (measured in
    docs/user-guide.md, "Scores between levels").
    """

    continuous: ClassVar[bool] = True
    sigma_conditioned: ClassVar[bool] = True

    def __init__(self, sigmas: torch.Tensor, training: str = "continuous") -> None:
        self.sigmas = sigmas
        self.training = training
        # log σ_L, log σ₁ and the half log-steps beyond each end, once (sample_t runs every step).
        self._low, self._high = math.log(float(sigmas[-1])), math.log(float(sigmas[0]))
        if len(sigmas) >= 2:
            self._below = 0.5 * (math.log(float(sigmas[-2])) - self._low)
            self._above = 0.5 * (self._high - math.log(float(sigmas[1])))

    def levels(self) -> torch.Tensor:
        return self.sigmas

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones_like(t), t

    def std(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def perturb(
        self,
        x0: torch.Tensor,
        t: torch.Tensor,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # a = 1: skip the multiplication by ones on the training hot path.
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        return x0 + append_dims(t.to(x0.dtype), x0) * noise, noise

    def training_levels(self) -> torch.Tensor | None:
        return self.sigmas if self.training == "levels" else None

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        if self.training == "levels":
            return super().sample_t(batch_size, generator=generator, device=device)
        low, high = self._low, self._high
        if self.training == "log_uniform" or len(self.sigmas) < 2:
            u = torch.rand(batch_size, generator=generator, device=device)
            return (low + (high - low) * u).exp()
        # Half a log-step beyond each end, folded back: the end levels' one-sided neighbourhoods get
        # the mass of an inner level's two-sided one.
        below, above = self._below, self._above
        u = torch.rand(batch_size, generator=generator, device=device)
        v = (low - below) + (high - low + below + above) * u
        v = torch.where(v < low, 2 * low - v, v)
        return torch.where(v > high, 2 * high - v, v).exp()


class GeometricSchedule(SigmaSchedule):
    """σ_l = σ_max·(σ_min/σ_max)^((l−1)/(L−1)) (Song & Ermon 2019, §4.2)."""

    def __init__(self, config: GeometricScheduleConfig) -> None:
        sigmas = torch.logspace(
            math.log10(config.sigma_max), math.log10(config.sigma_min), config.num_levels, dtype=torch.float64
        ).float()
        super().__init__(sigmas, config.training)


class ExplicitSigmas(SigmaSchedule):
    """The σ list as given."""

    def __init__(self, config: ExplicitSigmasConfig) -> None:
        super().__init__(torch.tensor(config.sigmas, dtype=torch.float32), config.training)
