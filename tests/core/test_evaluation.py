"""Tests of scorekit.evaluation: MMD against a direct reference, Fisher divergence, mode weights, Gaussian scores."""

from __future__ import annotations

import functools

import pytest
import torch

from scorekit.data import GaussianMixture, eight_gaussians, standard_normal
from scorekit.evaluation import (
    gaussian_fit,
    gaussian_kernel_score,
    kernel_score,
    mmd,
    mode_weight_error,
    relative_fisher_divergence,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference_mmd(x: torch.Tensor, y: torch.Tensor, bandwidths: list[float]) -> float:
    """Unbiased MMD² from the full kernel matrices, the textbook O(n²) way."""
    x, y = x.double(), y.double()

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sq_dist = torch.cdist(a, b).square()
        return sum(torch.exp(-sq_dist / (2 * h**2)) for h in bandwidths)

    n, m = len(x), len(y)
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return (within_x + within_y - 2 * k_xy.mean()).item()


def median_bandwidths(x: torch.Tensor, y: torch.Tensor) -> list[float]:
    median = torch.nn.functional.pdist(torch.cat([x, y]).double()).median().item()
    return [factor * median for factor in (0.25, 0.5, 1.0, 2.0, 4.0)]


def test_mmd_matches_the_reference_across_kernel_blocks() -> None:
    # 2500 rows span two 2048-row blocks, so block edges and the diagonal inside the
    # second block are both exercised; n ≠ m checks the normalisations.
    g = seeded(0)
    x = eight_gaussians().sample(2500, g)
    y = standard_normal(2).sample(700, g) * 3
    bandwidths = [0.3, 1.0, 2.5]
    assert mmd(x, y, bandwidths) == pytest.approx(reference_mmd(x, y, bandwidths), abs=1e-6, rel=1e-9)


def test_mmd_default_bandwidths_are_the_median_heuristic() -> None:
    g = seeded(1)
    x = eight_gaussians().sample(300, g)
    y = eight_gaussians(std=0.6).sample(400, g)
    expected = reference_mmd(x, y, median_bandwidths(x, y))
    assert mmd(x, y) == pytest.approx(expected, abs=1e-6, rel=1e-9)


def test_mmd_is_near_zero_for_samples_of_one_distribution() -> None:
    n = 1000
    mixture = eight_gaussians()
    # Under P = Q the unbiased estimate has mean 0 and standard deviation ≈ 2/n here
    # (measured over seeds); 10/n is a five-sigma bound.
    for seed in range(3):
        g = seeded(seed)
        assert abs(mmd(mixture.sample(n, g), mixture.sample(n, g), generator=g)) < 10 / n


def test_mmd_detects_a_shift() -> None:
    n = 1000
    g = seeded(3)
    mixture = eight_gaussians()
    shifted = mixture.sample(n, g) + torch.tensor([1.0, 0.0])
    # Three times the null bound of test_mmd_is_near_zero_for_samples_of_one_distribution.
    assert mmd(mixture.sample(n, g), shifted) > 30 / n
    assert mmd(mixture.sample(n, g), standard_normal(2).sample(n, g)) > 1.0


def test_mmd_is_symmetric() -> None:
    g = seeded(4)
    x = eight_gaussians().sample(300, g)
    y = eight_gaussians(radius=3.0).sample(200, g)
    assert mmd(x, y) == pytest.approx(mmd(y, x), abs=1e-12)
    assert mmd(x, y, [0.5, 2.0]) == pytest.approx(mmd(y, x, [0.5, 2.0]), abs=1e-12)


def test_mmd_subsampling_is_seeded_and_matches_the_reference() -> None:
    g = seeded(5)
    x = eight_gaussians().sample(3000, g)
    y = eight_gaussians().sample(3000, g) + 0.5
    first = mmd(x, y, [1.0], max_points=200, generator=seeded(6))
    assert first == mmd(x, y, [1.0], max_points=200, generator=seeded(6))
    # The same draws the function makes: one permutation of x's rows, then one of y's.
    g = seeded(6)
    x_kept = x[torch.randperm(3000, generator=g)[:200]]
    y_kept = y[torch.randperm(3000, generator=g)[:200]]
    assert first == pytest.approx(reference_mmd(x_kept, y_kept, [1.0]), abs=1e-6)


def test_mmd_flattens_point_dimensions_and_validates() -> None:
    g = seeded(7)
    x = torch.randn(50, 2, 3, generator=g)
    y = torch.randn(60, 2, 3, generator=g)
    assert mmd(x, y, [1.0]) == pytest.approx(mmd(x.reshape(50, 6), y.reshape(60, 6), [1.0]), abs=1e-12)
    with pytest.raises(ValueError, match="same point shape"):
        mmd(x, torch.randn(60, 5))
    with pytest.raises(ValueError, match="bandwidths"):
        mmd(x, y, [1.0, 0.0])
    with pytest.raises(ValueError, match="at least 2 points"):
        mmd(x[:1], y)


def test_relative_fisher_divergence_values() -> None:
    mixture = eight_gaussians()
    x = mixture.sample(500, seeded(8), dtype=torch.float64)
    true = mixture.score(x, 0.5)
    assert relative_fisher_divergence(true, true) == 0.0
    assert relative_fisher_divergence(torch.zeros_like(true), true) == pytest.approx(1.0)
    assert relative_fisher_divergence(-true, true) == pytest.approx(4.0)
    model = mixture.score(x, 0.6)
    expected = (model - true).square().sum(dim=1).mean() / true.square().sum(dim=1).mean()
    assert relative_fisher_divergence(model, true) == pytest.approx(expected.item(), rel=1e-12)


def test_relative_fisher_divergence_sums_over_all_non_batch_dimensions() -> None:
    g = seeded(9)
    true = torch.randn(20, 3, 4, generator=g)
    model = true + 0.1 * torch.randn(20, 3, 4, generator=g)
    flat = relative_fisher_divergence(model.reshape(20, 12), true.reshape(20, 12))
    assert relative_fisher_divergence(model, true) == pytest.approx(flat, rel=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        relative_fisher_divergence(model, true[:10])
    with pytest.raises(ValueError, match="zero everywhere"):
        relative_fisher_divergence(model, torch.zeros_like(true))


def test_mode_weight_error() -> None:
    target = torch.full((4,), 0.25)
    assert mode_weight_error(torch.tensor([0.25, 0.25, 0.25, 0.25]), target) == 0.0
    assert mode_weight_error(torch.tensor([0.5, 0.2, 0.2, 0.1]), target) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="same shape"):
        mode_weight_error(torch.ones(3), target)


def test_gaussian_kernel_score_is_the_mixture_score_of_one_isotropic_component() -> None:
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    density = GaussianMixture(mean[None, :], std=0.7)
    x = torch.randn(200, 3, generator=seeded(10), dtype=torch.float64) * 2
    covariance = 0.49 * torch.eye(3, dtype=torch.float64)
    for a, s in [(1.0, 0.0), (1.0, 0.3), (0.6, 0.8), (0.01, 1.0)]:
        expected = kernel_score(density, x, a, s)
        torch.testing.assert_close(gaussian_kernel_score(x, mean, covariance, a, s), expected, rtol=1e-10, atol=1e-12)


def test_gaussian_kernel_score_of_a_correlated_gaussian_is_the_gradient_of_its_log_density() -> None:
    # p_t = N(a·μ, a²Σ + s²I); its log-density's gradient by autograd is the closed form's peer.
    factor = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.3]], dtype=torch.float64)
    mean, covariance = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), factor @ factor.T
    x = torch.randn(50, 3, generator=seeded(11), dtype=torch.float64).requires_grad_()
    for a, s in [(1.0, 0.0), (0.5, 0.8)]:
        p_t = torch.distributions.MultivariateNormal(a * mean, a * a * covariance + s * s * torch.eye(3))
        (expected,) = torch.autograd.grad(p_t.log_prob(x).sum(), x)
        torch.testing.assert_close(gaussian_kernel_score(x.detach(), mean, covariance, a, s), expected)
    with pytest.raises(ValueError, match="covariance"):
        gaussian_kernel_score(x.detach(), mean, covariance[:2, :2], 1.0, 0.1)


def test_gaussian_fit_score_is_nearly_exact_for_gaussian_data() -> None:
    factor = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.3]], dtype=torch.float64)
    mean, covariance = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), factor @ factor.T
    g = seeded(12)
    n = 20000
    x0 = mean + torch.randn(n, 3, generator=g, dtype=torch.float64) @ factor.T
    fitted_mean, fitted_covariance = gaussian_fit(x0)
    torch.testing.assert_close(fitted_covariance, torch.cov(x0.T))
    for a, s in [(1.0, 0.0), (1.0, 0.1), (0.5, 0.8)]:
        x = a * x0 + s * torch.randn(n, 3, generator=g, dtype=torch.float64)
        true = gaussian_kernel_score(x, mean, covariance, a, s)
        fitted = gaussian_kernel_score(x, fitted_mean, fitted_covariance, a, s)
        # Only the fit's sampling error is left: O(d²/n) ≈ 5·10⁻⁴ at s = 0, measured; the zero score gets 1.
        assert relative_fisher_divergence(fitted, true) < 2e-3


def test_the_halving_bandwidth_ladder_equals_one_exponential_per_bandwidth() -> None:
    """The default ladder squares one kernel instead of five exponentials: the same sums to ~1e-14."""
    from scorekit.evaluation import _kernel_sum

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(2100, 3, generator=generator, dtype=torch.float64)
    b = 1.5 * torch.randn(900, 3, generator=generator, dtype=torch.float64) + 0.5
    ladder = [0.3 * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    for x, y, same in ((a, a, True), (a, b, False)):
        calls: list[int] = []
        fast = _kernel_sum(x, y, ladder, same, progress=functools.partial(calls.append, 1))
        direct = sum(_kernel_sum(x, y, [h], same) for h in ladder)
        assert fast == pytest.approx(direct, rel=1e-12)
        assert len(calls) == 2  # one per block of 2048 rows
