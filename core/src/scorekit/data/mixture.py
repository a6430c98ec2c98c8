"""Isotropic Gaussian mixtures with exact density and score at every noise level.

A mixture p(x) = Σ_k w_k N(x; μ_k, s² I) stays a mixture of the same form when it
is convolved with Gaussian noise N(0, σ² I): every component's variance becomes
s² + σ². That is what makes it the reference target for score-based models: the
noised density p_σ and its score ∇ₓ log p_σ, which a denoising score-matching
model learns (Vincent 2011; Song & Ermon 2019), are known in closed form.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["GaussianMixture", "eight_gaussians", "standard_normal"]


def _sample_count(n: int) -> int:
    """Check that `n` is a positive integer number of samples and return it."""
    count = operator.index(n)
    if count < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    return count


def _generator_device(generator: torch.Generator | None) -> torch.device:
    """The device random numbers are drawn on: the generator's own, else the CPU."""
    return generator.device if generator is not None else torch.device("cpu")


class GaussianMixture:
    """An isotropic Gaussian mixture p(x) = Σ_k w_k N(x; μ_k, std² I) in d dimensions.

    Parameters are kept in float64; every method returns the dtype (and device) of
    its input. `sigma` arguments are the standard deviation of the Gaussian noise
    the mixture is convolved with: a float, a 0-d tensor, or a tensor of shape (n,)
    holding one σ per point.
    """

    def __init__(
        self,
        means: Tensor | Sequence[Sequence[float]],
        std: float,
        weights: Tensor | Sequence[float] | None = None,
    ) -> None:
        means_t = torch.as_tensor(means, dtype=torch.float64).detach().cpu().clone()
        if means_t.ndim != 2 or means_t.shape[0] == 0 or means_t.shape[1] == 0:
            raise ValueError(f"means must be a non-empty 2-D array of shape (K, d), got shape {tuple(means_t.shape)}")
        if not torch.isfinite(means_t).all():
            raise ValueError("means must be finite")
        std = float(std)
        if not (math.isfinite(std) and std > 0):
            raise ValueError(f"std must be a positive finite number, got {std}")
        num_components = means_t.shape[0]
        if weights is None:
            weights_t = torch.full((num_components,), 1.0 / num_components, dtype=torch.float64)
        else:
            weights_t = torch.as_tensor(weights, dtype=torch.float64).detach().cpu().clone()
            if weights_t.shape != (num_components,):
                raise ValueError(
                    f"weights must have one entry per component ({num_components}), got shape {tuple(weights_t.shape)}"
                )
            if not torch.isfinite(weights_t).all():
                raise ValueError("weights must be finite")
            if (weights_t < 0).any():
                raise ValueError("weights must be non-negative")
            total = weights_t.sum()
            if not (0 < total < math.inf):
                raise ValueError("weights must have a positive, finite sum")
            weights_t = weights_t / total
        self.means: Tensor = means_t
        self.std: float = std
        self.weights: Tensor = weights_t
        self.num_components: int = num_components
        self.dim: int = means_t.shape[1]

    def __repr__(self) -> str:
        return f"GaussianMixture(num_components={self.num_components}, dim={self.dim}, std={self.std})"

    def sample(self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """Draw n points: a component k ~ Categorical(w), then x = μ_k + std·ε, ε ~ N(0, I).

        Drawn in float64 and then cast, so a seed gives the same points in every dtype.
        """
        return self.sample_labelled(n, generator, dtype)[0]

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
    ) -> tuple[Tensor, Tensor]:
        """:meth:`sample`'s points (the same for a seed) and the component k of each, int64 (n,): class labels."""
        n = _sample_count(n)
        device = _generator_device(generator)
        component = torch.multinomial(self.weights.to(device), n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=device)
        return (self.means.to(device)[component] + self.std * noise).to(dtype), component

    def component(self, k: int) -> GaussianMixture:
        """Component ``k`` alone, p(x ∣ k) = N(μ_k, std² I): the density of class k (a conditional's truth)."""
        return GaussianMixture(self.means[k : k + 1], self.std)

    def _variance(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """std² + σ², shaped (n, 1) or () so that it broadcasts against (n, K) and (n, d)."""
        sigma_t = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        if sigma_t.ndim == 1 and sigma_t.shape[0] == x.shape[0]:
            sigma_t = sigma_t[:, None]
        elif sigma_t.ndim != 0:
            raise ValueError(
                f"sigma must be a scalar or have shape ({x.shape[0]},) to match x, got shape {tuple(sigma_t.shape)}"
            )
        return self.std**2 + sigma_t**2

    def _check_points(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got shape {tuple(x.shape)}")

    def _component_log_joint(self, x: Tensor, variance: Tensor) -> Tensor:
        """log w_k + log N(x; μ_k, v I) for every point and component, shape (n, K)."""
        means = self.means.to(dtype=x.dtype, device=x.device)
        log_weights = self.weights.to(dtype=x.dtype, device=x.device).log()
        # Differences rather than ‖x‖² − 2x·μ + ‖μ‖²: the expansion cancels catastrophically
        # far from the means, exactly where scores of noisy samples get evaluated.
        sq_dist = (x[:, None, :] - means[None, :, :]).square().sum(dim=-1)
        return log_weights - 0.5 * sq_dist / variance - 0.5 * self.dim * torch.log(2 * math.pi * variance)

    def log_prob(self, x: Tensor, sigma: float | Tensor = 0.0) -> Tensor:
        """Exact log p_σ(x) = log Σ_k w_k N(x; μ_k, (std² + σ²) I), shape (n,).

        The sum over components is a logsumexp, so points far from every mean get an
        accurate (very negative) value instead of log 0.
        """
        self._check_points(x)
        return torch.logsumexp(self._component_log_joint(x, self._variance(x, sigma)), dim=1)

    def score(self, x: Tensor, sigma: float | Tensor = 0.0) -> Tensor:
        """Exact score ∇ₓ log p_σ(x) = Σ_k r_k(x) (μ_k − x) / (std² + σ²), shape (n, d).

        r_k(x) are the posterior responsibilities, a softmax over the component log
        joints; since the responsibilities sum to one this is (Σ_k r_k μ_k − x) / v.
        """
        self._check_points(x)
        variance = self._variance(x, sigma)
        responsibilities = torch.softmax(self._component_log_joint(x, variance), dim=1)
        means = self.means.to(dtype=x.dtype, device=x.device)
        return (responsibilities @ means - x) / variance

    def assign(self, x: Tensor) -> Tensor:
        """Index of the component with the largest responsibility at σ = 0, shape (n,)."""
        self._check_points(x)
        return self._component_log_joint(x, self._variance(x, 0.0)).argmax(dim=1)

    def mode_weights(self, x: Tensor) -> Tensor:
        """Fraction of the points assigned to each component, shape (K,).

        Compared with `weights` it measures mode coverage: a sampler that drops or
        over-samples a mode shows up here even when its sample moments look right.
        """
        counts = torch.bincount(self.assign(x), minlength=self.num_components)
        return counts.to(x.dtype) / x.shape[0]


def radial_mixture(num_modes: int, radius: float, std: float) -> GaussianMixture:
    """``num_modes`` equally weighted 2-D Gaussians with means radius·(cos 2πk/K, sin 2πk/K)."""
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(means, std)


def eight_gaussians(radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """Eight equally weighted 2-D Gaussians on a circle: the ``eight_gaussians`` data set."""
    return radial_mixture(8, radius, std)


def standard_normal(dim: int) -> GaussianMixture:
    """The standard normal N(0, I) in `dim` dimensions, as a one-component mixture."""
    return GaussianMixture(torch.zeros(1, operator.index(dim), dtype=torch.float64), 1.0)
