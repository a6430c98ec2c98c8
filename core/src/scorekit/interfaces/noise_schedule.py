"""NoiseSchedule: the perturbation kernel x_t = a(t)·x₀ + s(t)·ε shared by losses and samplers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from scorekit.tensors import append_dims

__all__ = ["NoiseSchedule", "select_levels"]


class NoiseSchedule(ABC):
    """A family of Gaussian perturbation kernels q(x_t ∣ x₀) = N(a(t)·x₀, s(t)²·I).

    One interface ties the methods together: NCSN is a = 1, s = σ_l (Song & Ermon 2019); DDPM is
    a = √ᾱ_t, s = √(1−ᾱ_t) (Ho et al. 2020). The score of the kernel is −(x_t − a·x₀)/s² = −ε/s,
    which is the denoising score matching target for any schedule.

    ``t`` is a tensor of shape (B,) in the schedule's own coordinates (σ itself for NCSN, a step
    index or a time for diffusion); it is what the ScoreModel is conditioned on.

    Example::

        t = schedule.sample_t(x0.shape[0], generator=g, device=x0.device)
        x_t, eps = schedule.perturb(x0, t, generator=g)
    """

    #: True when any t in the schedule's range is valid, False when only ``levels()`` are.
    continuous: ClassVar[bool] = False
    #: True when t is σ itself and a(t) = 1 (NCSN-style), so a data-space σ can be passed as t.
    sigma_conditioned: ClassVar[bool] = False

    @abstractmethod
    def levels(self) -> torch.Tensor:
        """The discrete levels in sampling order, from the noisiest to the cleanest: shape (L,)."""

    @abstractmethod
    def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a(t), s(t)), each of shape (B,), for levels ``t`` of shape (B,)."""

    def training_levels(self) -> torch.Tensor | None:
        """The discrete levels training draws t from (as :meth:`levels`), or None when it draws from a continuum.

        The default: ``levels()`` for a discrete schedule, None for a continuous one. A continuous
        schedule whose :meth:`sample_t` draws only its levels (NCSN's σ schedules with
        ``training = "levels"``) returns them, so that the engine can say when a model is asked for
        a t it was never trained at.
        """
        return None if self.continuous else self.levels()

    def t_of_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """The t whose noise-to-signal ratio s(t)/a(t) is ``sigma`` (float64, sigma's shape): the inverse
        that grids by σ or log-SNR need (:mod:`scorekit.grids`).

        The default: t = σ for a σ-conditioned schedule; for another continuous one a bisection on
        [levels()[-1], levels()[0]] (σ(t) must increase with t; 60 halvings, to float64 precision);
        for a discrete one the level nearest in log σ. σ outside the range gives the nearest end.
        Schedules with a closed form override it.
        """
        sigma = sigma.double()
        if self.sigma_conditioned:
            return sigma.clone()
        levels = self.levels().double()
        a, s = self.kernel(levels)
        level_sigmas = s.double() / a.double()
        if not self.continuous:
            distance = (sigma.log()[..., None] - level_sigmas.log()).abs()
            return levels[distance.argmin(dim=-1)]
        low = torch.full_like(sigma, float(levels.min()))
        high = torch.full_like(sigma, float(levels.max()))
        for _ in range(60):
            middle = 0.5 * (low + high)
            a_m, s_m = self.kernel(middle)
            below = s_m.double() / a_m.double() < sigma
            low = torch.where(below, middle, low)
            high = torch.where(below, high, middle)
        return 0.5 * (low + high)

    def sample_t(
        self, batch_size: int, *, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """Training levels, shape (B,): uniform over ``levels()`` unless a schedule says otherwise."""
        levels = self.levels().to(device)
        index = torch.randint(len(levels), (batch_size,), generator=generator, device=device)
        return levels[index]

    def perturb(
        self,
        x0: torch.Tensor,
        t: torch.Tensor,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw x_t ~ q(x_t ∣ x₀): returns (x_t, ε) with x_t = a(t)·x₀ + s(t)·ε, ε ~ N(0, I)."""
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        a, s = self.kernel(t)
        return append_dims(a.to(x0.dtype), x0) * x0 + append_dims(s.to(x0.dtype), x0) * noise, noise

    def std(self, t: torch.Tensor) -> torch.Tensor:
        """s(t), shape (B,)."""
        return self.kernel(t)[1]


def select_levels(levels: torch.Tensor, count: int | None) -> torch.Tensor:
    """``count`` of ``levels`` evenly spaced by index, the first and the last always kept (all if None).

    Samplers use it to walk a long schedule (a diffusion's 1000 steps) on a subsequence.
    """
    if count is None or count >= len(levels):
        return levels
    if count == 1:
        return levels[:1]
    return levels[torch.linspace(0, len(levels) - 1, count, dtype=torch.float64).round().long()]
