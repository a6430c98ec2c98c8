"""Helpers shared by the data tests."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from scorekit.data import (
    GaussianMixture,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_mixture(dim: int, num_components: int = 5, seed: int = 0) -> GaussianMixture:
    g = seeded(seed)
    means = 3 * torch.randn(num_components, dim, generator=g, dtype=torch.float64)
    weights = torch.rand(num_components, generator=g, dtype=torch.float64) + 0.1
    return GaussianMixture(means, std=0.7, weights=weights)


def scipy_log_prob(mixture: GaussianMixture, x: np.ndarray, sigma: float) -> np.ndarray:
    variance = mixture.std**2 + sigma**2
    per_component = np.stack(
        [
            np.atleast_1d(multivariate_normal(mean=mu, cov=variance * np.eye(mixture.dim)).logpdf(x))
            for mu in mixture.means.numpy()
        ],
        axis=1,
    )
    return logsumexp(np.log(mixture.weights.numpy()) + per_component, axis=1)


def grid(half_width: float, step: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Midpoints of a square grid of cells of side `step` covering [-half_width, half_width]²."""
    ticks = torch.arange(-half_width + step / 2, half_width, step, dtype=dtype)
    return torch.cartesian_prod(ticks, ticks)
