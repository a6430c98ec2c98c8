"""Sample- and score-quality metrics: MMD, relative Fisher divergence, mode-weight error, and the
score of a fitted Gaussian, the reference a network's score is compared with."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from scorekit.data.mixture import GaussianMixture
from scorekit.interfaces import NoiseSchedule, ScoreModel

__all__ = [
    "KernelScoreModel",
    "by_class",
    "gaussian_fit",
    "gaussian_kernel_score",
    "kernel_log_prob",
    "kernel_score",
    "mmd",
    "mode_weight_error",
    "relative_fisher_divergence",
]

# Rows of the first sample per kernel block: a 2048 × 5000 float64 block is ~80 MB.
_BLOCK_ROWS = 2048
# Points used to estimate the median pairwise distance: 1000 points give ~5·10⁵ pairs.
_MEDIAN_POINTS = 1000
_BANDWIDTH_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _as_points(name: str, z: Tensor) -> Tensor:
    """z as float64 of shape (n, features), every non-batch dimension flattened."""
    if z.ndim < 1 or z.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 points, got shape {tuple(z.shape)}")
    return z.detach().reshape(z.shape[0], -1).double()


def _subsample(z: Tensor, max_points: int, generator: torch.Generator | None) -> Tensor:
    if z.shape[0] <= max_points:
        return z
    device = generator.device if generator is not None else torch.device("cpu")
    keep = torch.randperm(z.shape[0], generator=generator, device=device)[:max_points]
    return z[keep.to(z.device)]


def _median_distance(z: Tensor, generator: torch.Generator | None) -> float:
    """Median of the non-zero pairwise Euclidean distances in z (on at most 1000 of its points).

    Zero distances (repeated points) are left out so that a bandwidth built from the
    median is positive unless every point is the same, when any bandwidth will do.
    """
    distances = torch.nn.functional.pdist(_subsample(z, _MEDIAN_POINTS, generator))
    positive = distances[distances > 0]
    return positive.median().item() if positive.numel() else 1.0


def _halving(bandwidths: Sequence[float]) -> bool:
    """Whether each bandwidth is half the one before (the default ladder)."""
    return all(math.isclose(small * 2, large, rel_tol=1e-12) for large, small in itertools.pairwise(bandwidths))


def _kernel_sum(
    a: Tensor, b: Tensor, bandwidths: Sequence[float], same: bool, progress: Callable[[], None] | None = None
) -> float:
    """Σ_h Σ_{i,j} exp(−‖a_i − b_j‖² / (2h²)), leaving out i = j when `same` (a is b).

    The (len(a), len(b)) distance matrix is built a block of rows at a time so that
    memory stays O(block · len(b)) however large the samples are; ``progress`` is called after
    each block. For a ladder of halving bandwidths (the default) one exponential serves them all:
    halving h raises the kernel to the 4th power, two squarings (relative error ~1e-14 in float64
    after the five rungs, against 5× the exponentials).
    """
    total = 0.0
    ladder = sorted(bandwidths, reverse=True)
    halving = len(ladder) > 1 and _halving(ladder)
    b_sq_norm = b.square().sum(dim=1)
    for start in range(0, a.shape[0], _BLOCK_ROWS):
        block = a[start : start + _BLOCK_ROWS]
        sq_dist = (block.square().sum(dim=1)[:, None] + b_sq_norm[None, :] - 2 * block @ b.T).clamp_min(0)
        if same:
            # exp(−inf) = 0 drops the k(a_i, a_i) terms exactly, as the unbiased estimate requires.
            sq_dist[:, start : start + block.shape[0]].diagonal().fill_(math.inf)
        if halving:
            kernel = torch.exp(sq_dist / (-2 * ladder[0] * ladder[0]))
            total += kernel.sum().item()
            for _ in ladder[1:]:
                kernel = kernel.square_().square_()
                total += kernel.sum().item()
        else:
            for h in bandwidths:
                total += torch.exp(sq_dist / (-2 * h * h)).sum().item()
        if progress is not None:
            progress()
    return total


def mmd(
    x: Tensor,
    y: Tensor,
    bandwidths: Sequence[float] | None = None,
    max_points: int = 5000,
    generator: torch.Generator | None = None,
    progress: Callable[[], None] | None = None,
) -> float:
    """Unbiased estimate of the squared maximum mean discrepancy MMD²(P, Q) (Gretton et al. 2012).

    MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j)
             − 2/(nm) Σ_{i,j} k(x_i, y_j),

    with the kernel a sum of RBF kernels k(a, b) = Σ_h exp(−‖a − b‖² / (2h²)). By
    default h ranges over (0.25, 0.5, 1, 2, 4) × the median pairwise distance of the
    pooled sample (the median heuristic), estimated on at most 1000 random points.
    Samples larger than `max_points` are subsampled at random first. Points are
    flattened to vectors; the estimate is computed in float64 and can be slightly
    negative when P = Q. ``progress`` is called after each block of kernel rows (a few per second).
    """
    x_points = _as_points("x", x)
    y_points = _as_points("y", y)
    if x_points.shape[1] != y_points.shape[1]:
        raise ValueError(f"x and y must have the same point shape, got {tuple(x.shape[1:])} and {tuple(y.shape[1:])}")
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    x_points = _subsample(x_points, max_points, generator)
    y_points = _subsample(y_points.to(x_points.device), max_points, generator)
    if bandwidths is None:
        median = _median_distance(torch.cat([x_points, y_points]), generator)
        bandwidths = [factor * median for factor in _BANDWIDTH_FACTORS]
    elif not bandwidths or not all(math.isfinite(h) and h > 0 for h in bandwidths):
        raise ValueError(f"bandwidths must be a non-empty list of positive numbers, got {list(bandwidths)}")
    n, m = x_points.shape[0], y_points.shape[0]
    k_xx = _kernel_sum(x_points, x_points, bandwidths, same=True, progress=progress) / (n * (n - 1))
    k_yy = _kernel_sum(y_points, y_points, bandwidths, same=True, progress=progress) / (m * (m - 1))
    k_xy = _kernel_sum(x_points, y_points, bandwidths, same=False, progress=progress) / (n * m)
    return k_xx + k_yy - 2 * k_xy


def relative_fisher_divergence(score_model: Tensor, score_true: Tensor) -> float:
    """E‖s(x) − s*(x)‖² / E‖s*(x)‖² over the batch: the score error relative to the score's size.

    Squared norms sum over every non-batch dimension and the expectations are batch
    means; 0 means a perfect score, 1 is what the zero function scores.
    """
    if score_model.shape != score_true.shape or score_true.ndim < 1:
        raise ValueError(
            f"score_model and score_true must have the same shape, got {tuple(score_model.shape)} and "
            f"{tuple(score_true.shape)}"
        )
    model = score_model.detach().reshape(score_model.shape[0], -1).double()
    true = score_true.detach().reshape(score_true.shape[0], -1).double()
    reference = true.square().sum(dim=1).mean()
    if reference == 0:
        raise ValueError("the true score is zero everywhere, so the relative divergence is undefined")
    return ((model - true).square().sum(dim=1).mean() / reference).item()


def mode_weight_error(weights: Tensor, target: Tensor) -> float:
    """max_k |w_k − t_k|: the worst over- or under-weighting of a mode."""
    if weights.shape != target.shape:
        raise ValueError(
            f"weights and target must have the same shape, got {tuple(weights.shape)} and {tuple(target.shape)}"
        )
    return (weights.double() - target.double().to(weights.device)).abs().max().item()


def kernel_score(density: GaussianMixture, x: Tensor, a: float | Tensor, s: float | Tensor) -> Tensor:
    """∇log p_t(x) for x_t = a·x₀ + s·ε, x₀ ~ ``density``: (1/a)·∇log p_{s/a}(x/a).

    x_t/a is x₀ plus N(0, (s/a)²I) noise, and scaling by a divides the score by a; for a = 1 this is
    the score of the data convolved with N(0, s²I) (NCSN's p_σ). ``a`` and ``s`` are numbers or
    tensors of shape (n,), one kernel per point.
    """
    a_t, s_t = _kernel_terms(x, a, s)
    return density.score(x / a_t[:, None], sigma=s_t / a_t) / a_t[:, None]


def kernel_log_prob(density: GaussianMixture, x: Tensor, a: float | Tensor, s: float | Tensor) -> Tensor:
    """log p_t(x) for x_t = a·x₀ + s·ε, x₀ ~ ``density``: log p_{s/a}(x/a) − d·log a, shape (n,)."""
    a_t, s_t = _kernel_terms(x, a, s)
    return density.log_prob(x / a_t[:, None], sigma=s_t / a_t) - x.shape[1] * a_t.log()


def _kernel_terms(x: Tensor, a: float | Tensor, s: float | Tensor) -> tuple[Tensor, Tensor]:
    a_t, s_t = (torch.as_tensor(v, dtype=x.dtype, device=x.device).expand(x.shape[0]) for v in (a, s))
    if not (bool((a_t > 0).all()) and bool((s_t >= 0).all())):
        raise ValueError(f"need a > 0 and s ≥ 0, got a = {a}, s = {s}")
    return a_t, s_t


def gaussian_fit(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean μ (d,) and covariance Σ (d, d) of points x (n, *event) flattened to (n, d), in float64.

    Σ = Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ / (n − 1), the unbiased sample covariance.
    """
    points = _as_points("x", x)
    centred = points - points.mean(dim=0)
    return points.mean(dim=0), centred.T @ centred / (points.shape[0] - 1)


def gaussian_kernel_score(x: Tensor, mean: Tensor, covariance: Tensor, a: float, s: float) -> Tensor:
    """∇log p_t(x) for x_t = a·x₀ + s·ε when x₀ ~ N(μ, Σ): p_t = N(a·μ, a²Σ + s²I), so

        ∇log p_t(x) = −(a²Σ + s²I)⁻¹ (x − a·μ).

    With μ and Σ from :func:`gaussian_fit` of the data, this is the score of the Gaussian fitted
    to the data: ``scorekit eval`` sets its relative Fisher divergence beside a network's, so a
    network that learned more than the data's mean and covariance scores below it. x has shape
    (n, d); computed in float64 and returned in x's dtype. a²Σ + s²I must be positive definite
    (at s = 0, Σ must be: a fit to more than d points in general position).
    """
    if x.ndim != 2 or mean.shape != x.shape[1:] or covariance.shape != (x.shape[1], x.shape[1]):
        raise ValueError(
            f"need x (n, d), mean (d,) and covariance (d, d), got shapes {tuple(x.shape)}, {tuple(mean.shape)} "
            f"and {tuple(covariance.shape)}"
        )
    if not (a > 0 and s >= 0):
        raise ValueError(f"need a > 0 and s ≥ 0, got a = {a}, s = {s}")
    eye = torch.eye(x.shape[1], dtype=torch.float64, device=x.device)
    covariance_t = a * a * covariance.to(x.device, torch.float64) + s * s * eye
    centred = x.double() - a * mean.to(x.device, torch.float64)
    return -torch.linalg.solve(covariance_t, centred.T).T.to(x.dtype)


class KernelScoreModel(ScoreModel):
    """The exact score ∇log p_t of a Gaussian mixture's marginals under ``schedule``'s kernel.

    A ScoreModel with no parameters: samplers and likelihoods run on it exactly as on a trained
    network, so their own error is measured apart from a network's (tests, benchmarks). With
    ``conditional`` it is class-conditional on the mixture's components: label k gives the score of
    component k's marginal, :data:`~scorekit.condition.NO_LABEL` the whole mixture's (the exact
    unconditional score, as classifier-free guidance's null label should give).

    Example::

        model = KernelScoreModel(eight_gaussians(), schedule)
        x = sampler.sample(model, (1000, 2), schedule=schedule)
    """

    def __init__(self, density: GaussianMixture, schedule: NoiseSchedule, *, conditional: bool = False) -> None:
        super().__init__()
        self.density, self.schedule = density, schedule
        self.num_classes = density.num_components if conditional else 0
        self.bind((density.dim,))

    def forward(self, x: Tensor, t: Tensor, condition: Any = None) -> Tensor:
        a, s = self.schedule.kernel(t)
        a, s = a.to(x.dtype).expand(x.shape[0]), s.to(x.dtype).expand(x.shape[0])
        labels = getattr(condition, "labels", None) if self.num_classes else None
        if self.num_classes and labels is None:
            raise ValueError("KernelScoreModel(conditional=True) needs condition=Condition(labels)")
        return by_class(self.density, labels, x, lambda d, rows: kernel_score(d, x[rows], a[rows], s[rows]))


def by_class(
    density: GaussianMixture,
    labels: Tensor | None,
    x: Tensor,
    fn: Callable[[GaussianMixture, Tensor], Tensor],
) -> Tensor:
    """Rows of ``x`` through ``fn(density, rows)``; with ``labels``, the rows of class k through
    ``fn(component k, rows)`` (label −1: the whole mixture): the truth of p(x ∣ y) row by row.

    ``rows`` is a boolean mask of the rows ``fn`` computes, in their order.
    """
    if labels is None or labels.numel() == 0:
        return fn(density, torch.ones(x.shape[0], dtype=torch.bool, device=x.device))
    out: Tensor | None = None
    for k in labels.unique().tolist():
        rows = labels == k
        piece = fn(density if k < 0 else density.component(int(k)), rows)
        if out is None:
            out = piece.new_empty((x.shape[0], *piece.shape[1:]))
        out[rows] = piece
    assert out is not None, "no rows"
    return out
