"""GaussianMixture: exact log-density and score against scipy and autograd; sampling; validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scorekit.data import (
    GaussianMixture,
    eight_gaussians,
    standard_normal,
)
from tests.core.data_helpers import grid, random_mixture, scipy_log_prob, seeded

# ---------------------------------------------------------------- GaussianMixture


@pytest.mark.parametrize("dim", [2, 16])
@pytest.mark.parametrize("sigma", [0.0, 0.8])
def test_log_prob_matches_scipy(dim: int, sigma: float) -> None:
    mixture = random_mixture(dim)
    x = 4 * torch.randn(200, dim, generator=seeded(1), dtype=torch.float64)
    expected = scipy_log_prob(mixture, x.numpy(), sigma)
    np.testing.assert_allclose(mixture.log_prob(x, sigma).numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dim", [2, 16])
def test_log_prob_with_per_point_sigma_matches_scipy(dim: int) -> None:
    mixture = random_mixture(dim)
    x = 4 * torch.randn(12, dim, generator=seeded(2), dtype=torch.float64)
    sigma = torch.linspace(0.0, 2.0, 12, dtype=torch.float64)
    expected = np.array([scipy_log_prob(mixture, x[i : i + 1].numpy(), s.item())[0] for i, s in enumerate(sigma)])
    np.testing.assert_allclose(mixture.log_prob(x, sigma).numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_eight_gaussians_density_integrates_to_one(sigma: float) -> None:
    step = 0.04
    points = grid(8.0, step)
    mass = eight_gaussians().log_prob(points, sigma).exp().sum().item() * step**2
    assert mass == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("dim", [2, 16])
def test_score_is_gradient_of_log_prob(dim: int) -> None:
    mixture = random_mixture(dim, seed=3)
    x = 4 * torch.randn(64, dim, generator=seeded(4), dtype=torch.float64)
    per_point_sigma = torch.rand(64, generator=seeded(5), dtype=torch.float64) * 3
    for sigma in (0.0, 0.6, per_point_sigma):
        x_grad = x.clone().requires_grad_(True)
        (autograd_score,) = torch.autograd.grad(mixture.log_prob(x_grad, sigma).sum(), x_grad)
        torch.testing.assert_close(mixture.score(x, sigma), autograd_score, rtol=1e-10, atol=1e-12)


def test_standard_normal_score() -> None:
    x = torch.randn(50, 3, generator=seeded(6), dtype=torch.float64)
    for sigma in (0.0, 0.5, 3.0):
        torch.testing.assert_close(standard_normal(3).score(x, sigma), -x / (1 + sigma**2))


def test_score_and_log_prob_are_stable_far_from_the_means() -> None:
    mixture = eight_gaussians()
    x = torch.tensor([[1e3, 0.0], [0.0, -5e3], [4.0, 300.0]], dtype=torch.float64)
    variance = mixture.std**2 + 0.1**2
    nearest = mixture.means[mixture.assign(x)]
    score = mixture.score(x, 0.1)
    assert torch.isfinite(score).all()
    torch.testing.assert_close(score, -(x - nearest) / variance)
    assert torch.isfinite(mixture.log_prob(x, 0.1)).all()


def test_outputs_follow_the_input_dtype() -> None:
    mixture = eight_gaussians()
    x = mixture.sample(100, seeded(7))
    assert x.dtype == torch.float32
    assert mixture.log_prob(x, 0.3).dtype == torch.float32
    assert mixture.score(x, torch.full((100,), 0.3)).dtype == torch.float32
    torch.testing.assert_close(
        mixture.log_prob(x, 0.3), mixture.log_prob(x.double(), 0.3).float(), rtol=1e-5, atol=1e-5
    )


def test_eight_gaussians_sample_moments() -> None:
    n = 200_000
    radius, std = 4.0, 0.3
    x = eight_gaussians(radius, std).sample(n, seeded(8), dtype=torch.float64)
    # Per coordinate the variance is radius²/2 + std²; ‖x‖² = radius² + 2 std μ·ε + std² ‖ε‖²
    # has variance 4 std² radius² + 2·2 std⁴.
    mean_tol = 5 * math.sqrt((radius**2 / 2 + std**2) / n)
    sq_norm_tol = 5 * math.sqrt((4 * std**2 * radius**2 + 4 * std**4) / n)
    assert x.mean(dim=0).abs().max().item() < mean_tol
    assert x.square().sum(dim=1).mean().item() == pytest.approx(radius**2 + 2 * std**2, abs=sq_norm_tol)


def test_mode_weights_of_samples_match_the_mixture_weights() -> None:
    mixture = eight_gaussians()
    weights = mixture.mode_weights(mixture.sample(80_000, seeded(9)))
    assert weights.shape == (8,)
    assert weights.sum().item() == pytest.approx(1.0)
    assert (weights - 1 / 8).abs().max().item() < 0.01


def test_unequal_weights_are_normalised_and_respected() -> None:
    mixture = GaussianMixture([[-5.0], [0.0], [5.0]], std=0.5, weights=[2.0, 0.0, 6.0])
    torch.testing.assert_close(mixture.weights, torch.tensor([0.25, 0.0, 0.75], dtype=torch.float64))
    weights = mixture.mode_weights(mixture.sample(40_000, seeded(10)))
    assert weights[1].item() == 0.0
    assert weights[2].item() == pytest.approx(0.75, abs=0.01)


def test_assign_maps_each_mean_to_its_component() -> None:
    mixture = eight_gaussians()
    torch.testing.assert_close(mixture.assign(mixture.means), torch.arange(8))


def test_mixture_sampling_is_deterministic() -> None:
    mixture = random_mixture(16)
    a = mixture.sample(500, seeded(11))
    torch.testing.assert_close(a, mixture.sample(500, seeded(11)), rtol=0, atol=0)
    assert not torch.equal(a, mixture.sample(500, seeded(12)))
    torch.testing.assert_close(mixture.sample(500, seeded(11), dtype=torch.float64).float(), a, rtol=0, atol=0)


def test_constructors() -> None:
    mixture = eight_gaussians(radius=2.0, std=0.1)
    assert (mixture.num_components, mixture.dim, mixture.std) == (8, 2, 0.1)
    torch.testing.assert_close(mixture.means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(mixture.means[2], torch.tensor([0.0, 2.0], dtype=torch.float64))
    normal = standard_normal(5)
    assert (normal.num_components, normal.dim, normal.std) == (1, 5, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"means": [1.0, 2.0], "std": 1.0}, "means"),
        ({"means": [[0.0, math.nan]], "std": 1.0}, "means"),
        ({"means": [[0.0, 0.0]], "std": 0.0}, "std"),
        ({"means": [[0.0, 0.0]], "std": -1.0}, "std"),
        ({"means": [[0.0], [1.0]], "std": 1.0, "weights": [1.0, -0.5]}, "weights must be non-negative"),
        ({"means": [[0.0], [1.0]], "std": 1.0, "weights": [1.0, 1.0, 1.0]}, "weights"),
        ({"means": [[0.0], [1.0]], "std": 1.0, "weights": [0.0, 0.0]}, "weights"),
    ],
)
def test_mixture_validation(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        GaussianMixture(**kwargs)


def test_mixture_rejects_mismatched_points_and_sigma() -> None:
    mixture = eight_gaussians()
    with pytest.raises(ValueError, match="x must have shape"):
        mixture.log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="sigma"):
        mixture.score(torch.zeros(4, 2), torch.ones(3))
