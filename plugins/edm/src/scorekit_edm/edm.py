"""EDM (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models").

- :class:`EDMPrecond`, a ScoreModel around any network F: D(x; σ) = c_skip·x + c_out·F(c_in·x; c_noise)
  with c_skip = σ_d²/(σ² + σ_d²), c_out = σ·σ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²), c_noise = ¼·ln σ
  (Table 1). It predicts x₀ (``parametrization = "x0"``), so every sampler and loss gets the
  quantity it consumes through the engine's conversion; its input t is σ, so it belongs with a
  σ-conditioned schedule (``edm``, or NCSN's ``geometric``).
- :class:`EDMLoss`: E_σ E_ε λ(σ)·½‖D(x + σε; σ) − x‖², ln σ ~ N(P_mean, P_std²), λ(σ) =
  (σ² + σ_d²)/(σ·σ_d)². With the preconditioning, λ·c_out² = 1: every σ trains F on a target of
  unit variance.
- :class:`EDMSchedule`: t = σ on [σ_min, σ_max], levels on Karras' ρ grid, training draws σ from
  the log-normal above clamped to the range (so another loss on this schedule trains on EDM's σ
  distribution).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.tensors import append_dims, batch_sum
from scorekit_edm.config import EDMLossConfig, EDMPrecondConfig, EDMScheduleConfig

__all__ = ["EDMLoss", "EDMPrecond", "EDMSchedule"]


class EDMPrecond(ScoreModel):
    """D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)) around the configured network F."""

    parametrization: ClassVar[str] = "x0"

    def __init__(self, config: EDMPrecondConfig) -> None:
        super().__init__()
        self.config = config
        self.sigma_data = config.sigma_data
        self.network: ScoreModel = config.network.build()
        self.num_classes = self.network.num_classes

    def bind(self, event_shape: tuple[int, ...]) -> None:
        super().bind(event_shape)
        self.network.bind(event_shape)

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: Any = None) -> torch.Tensor:
        sigma = append_dims(t.to(x.dtype), x)
        sd2 = self.sigma_data**2
        norm = (sigma.square() + sd2).rsqrt()
        c_skip = sd2 * norm.square()
        c_out = sigma * self.sigma_data * norm
        c_noise = 0.25 * t.to(x.dtype).log()
        extra = {"condition": condition} if self.num_classes else {}
        return c_skip * x + c_out * self.network(norm * x, c_noise, **extra)


class EDMLoss(Loss):
    """λ(σ)·½‖D(x + σε; σ) − x‖² with ln σ ~ N(P_mean, P_std²) (Karras et al. 2022, §5)."""

    parametrization = "x0"

    def __init__(self, config: EDMLossConfig) -> None:
        self.config = config

    def check(self, schedule: NoiseSchedule | None) -> None:
        super().check(schedule)
        if schedule is not None and not schedule.sigma_conditioned:
            raise ConfigError(
                "the edm loss adds noise of std σ and evaluates the model at t = σ: it needs a σ-conditioned "
                "schedule (edm, geometric, sigmas) @ $.schedule.kind"
            )

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        config = self.config
        n = torch.randn(x0.shape[0], generator=generator, device=x0.device)
        sigma = (config.p_mean + config.p_std * n).exp().to(x0.dtype)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        denoised = model(x0 + append_dims(sigma, x0) * noise, sigma)
        sd2 = config.sigma_data**2
        weight = (sigma.square() + sd2) / (sigma * config.sigma_data).square()
        return (weight * 0.5 * batch_sum((denoised - x0).square())).mean()


class EDMSchedule(NoiseSchedule):
    """t = σ on [σ_min, σ_max]; levels σ_i = (σ_max^{1/ρ} + i/(L−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ."""

    continuous: ClassVar[bool] = True
    sigma_conditioned: ClassVar[bool] = True

    def __init__(self, config: EDMScheduleConfig) -> None:
        self.config = config
        u = torch.linspace(0.0, 1.0, config.num_levels, dtype=torch.float64)
        inv = 1.0 / config.rho
        self.sigmas = (config.sigma_max**inv + u * (config.sigma_min**inv - config.sigma_max**inv)) ** config.rho
        self.sigmas[0], self.sigmas[-1] = config.sigma_max, config.sigma_min

    def levels(self) -> torch.Tensor:
        return self.sigmas.float()

    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones_like(t), t

    def std(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        n = torch.randn(batch_size, generator=generator, device=device)
        # Clamped to the schedule's range, as every schedule's draws lie in it (2.7e-5 of the mass beyond).
        return (self.config.p_mean + self.config.p_std * n).exp().clamp(self.config.sigma_min, self.config.sigma_max)

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma.double().clone()
