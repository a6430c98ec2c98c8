"""Imputation and inpainting: sampling x given some of its coordinates, with any sampler.

An :class:`Observation` holds, per row, the known values ``y`` and a ``mask`` (1 where known). The
engine hands the sampler an :class:`Imputed` view of the model, which shows the network the known
coordinates as the method prescribes and leaves the sampler's own state alone; after the sampler
returns, the known coordinates are set to ``y`` exactly. The sampler never learns that it is
imputing, so every sampler (a third party's included) imputes, as every sampler samples
class-conditionally through :class:`~scorekit.condition.Conditioned` (docs/controllable.md).

Methods, for the kernel x_t = a(t)·x₀ + s(t)·ε:

``replace``
    The replacement method (Song et al. 2021, score_sde's inpainting): the network sees the known
    coordinates as a fresh draw of q(x_t ∣ x₀ = y), a(t)·y + s(t)·ε, at every evaluation. The
    baseline: the free coordinates follow the joint score at a noisy copy of y, which carries less
    of y the noisier t is, so a choice the free part makes early (a mode) can disagree with y.
``guidance``
    Replacement plus reconstruction guidance (Ho et al. 2022, §3.1; the pseudo-inverse guidance of
    Song et al. 2023 for a masking operator): the score gains ∇ₓ log N(y; m⊙x̂₀(x_t), r_t²) with
    x̂₀ = E[x₀ ∣ x_t] the model's own estimate and r_t² = s²·v / (a²·v + s²) the posterior variance of
    x₀ under a Gaussian prior of per-coordinate variance v. It pulls the free coordinates toward
    values that explain y at every noise level; one extra backward pass through the network per
    evaluation.
``annealed``
    The network sees the known coordinates at their noise-free mean a(t)·y. Each level's target is
    then π_t(x_free) ∝ p_t(a(t)·y, x_free), whose limit at t → 0 is the exact conditional
    p₀(x_free ∣ y); samplers that draw from each level's target by MCMC (annealed Langevin,
    Langevin correctors) sample it exactly in the limit of many steps per level. ODE and ancestral
    samplers do not (they transport rather than sample each level): use ``guidance`` with them.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch

from scorekit._imputation_methods import METHODS
from scorekit.errors import ConfigError, UserError
from scorekit.interfaces.noise_schedule import NoiseSchedule
from scorekit.interfaces.score_model import ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, convert
from scorekit.tensors import append_dims

__all__ = ["METHODS", "Imputed", "Observation", "complete"]


@attrs.frozen(eq=False)
class Observation:
    """What is known of each row: ``values`` (B, *event) and ``mask`` (B, *event), 1.0 where known.

    Both in model space (standardized); ``values`` where the mask is 0 are ignored. ``variance`` is
    the data's per-coordinate variance in model space (the ``guidance`` method's prior; 1 for
    standardized data).
    """

    values: torch.Tensor
    mask: torch.Tensor
    method: str = "replace"
    variance: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"unknown imputation method {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.values.shape != self.mask.shape:
            raise UserError(f"the mask has shape {tuple(self.mask.shape)}, the values {tuple(self.values.shape)}")
        if not (math.isfinite(self.variance) and self.variance > 0):
            raise UserError(f"the data variance must be a positive number, got {self.variance}")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def rows(self, index: slice) -> Observation:
        return attrs.evolve(self, values=self.values[index], mask=self.mask[index])

    def to(self, device: torch.device | str, dtype: torch.dtype) -> Observation:
        return attrs.evolve(self, values=self.values.to(device, dtype), mask=self.mask.to(device, dtype))


def complete(x: torch.Tensor, observation: Observation) -> torch.Tensor:
    """``x`` with its known coordinates set to the observed values exactly."""
    mask = observation.mask.to(x.device, x.dtype)
    return mask * observation.values.to(x.device, x.dtype) + (1 - mask) * x


class Imputed(ScoreModel):
    """A view of ``model`` that shows it the known coordinates of :attr:`observation` as ``method`` says.

    ``view(x, t) = model(m⊙k(t) + (1 − m)⊙x, t)`` (+ the guidance term), with k(t) the method's
    known part (module docstring). Holds the model, not a copy; the engine rebinds
    :attr:`observation` to each sampling chunk's rows. ``generator`` draws the fresh noise of
    ``replace`` and ``guidance``.
    """

    def __init__(
        self,
        model: Any,
        schedule: NoiseSchedule,
        observation: Observation,
        generator: torch.Generator,
        *,
        consumer: str = "this component",
    ) -> None:
        super().__init__()
        prediction = str(model.parametrization)
        if prediction not in KERNEL_PARAMETRIZATIONS:
            raise ConfigError(
                f"imputation needs a model of the kernel's noise (score, ε, x₀ or v); this one predicts {prediction!r}"
            )
        self.model, self.schedule, self.observation = model, schedule, observation
        self.generator, self.consumer = generator, consumer
        self.event_shape = model.event_shape

    @property
    def parametrization(self) -> str:  # type: ignore[override]
        return str(self.model.parametrization)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        observation = self.observation
        if x.shape[0] != len(observation):
            raise ConfigError(
                f"{self.consumer} evaluated the model on {x.shape[0]} rows for a batch of {len(observation)}: "
                "imputation needs components that evaluate it once per row, in order (docs/design.md, 'Conditioning')"
            )
        a, s = self.schedule.kernel(t)
        a, s = append_dims(a.to(x.dtype), x), append_dims(s.to(x.dtype), x)
        y, mask = observation.values.to(x.dtype), observation.mask.to(x.dtype)
        known = a * y
        if observation.method != "annealed":
            noise = torch.randn(x.shape, generator=self.generator, device=self.generator.device, dtype=x.dtype)
            known = known + s * noise.to(x.device)
        shown = mask * known + (1 - mask) * x
        if observation.method != "guidance":
            return self.model(shown, t)
        return self._guided(shown, t, a, s, y, mask)

    def _guided(
        self, x: torch.Tensor, t: torch.Tensor, a: torch.Tensor, s: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        prediction = self.parametrization
        flat_a, flat_s = a.reshape(-1), s.reshape(-1)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            output = self.model(x, t)
            denoised = convert(output, x, flat_a, flat_s, source=prediction, target="x0")
            misfit = 0.5 * (mask * (y - denoised)).square().sum()
            (gradient,) = torch.autograd.grad(misfit, x)
        variance = self.observation.variance
        r2 = s * s * variance / (a * a * variance + s * s)
        score = convert(output.detach(), x.detach(), flat_a, flat_s, source=prediction, target="score")
        guided = score - gradient / r2
        return convert(guided, x.detach(), flat_a, flat_s, source="score", target=prediction)
