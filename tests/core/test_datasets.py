"""Tests of scorekit.data: exact mixture formulas, toy samplers, array loading, standardization."""

from __future__ import annotations

import json
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from scorekit.data import (
    GaussianMixture,
    Standardizer,
    checkerboard,
    checkerboard_log_prob,
    eight_gaussians,
    load_array,
    rings,
    spirals,
    split,
    standard_normal,
    swiss_roll,
    two_moons,
)
from scorekit.errors import DataError

TOY_SAMPLERS = [swiss_roll, two_moons, checkerboard, rings, spirals]


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


# ---------------------------------------------------------------- toy samplers


@pytest.mark.parametrize("sampler", TOY_SAMPLERS)
def test_toy_samplers_shape_finite_and_deterministic(sampler) -> None:
    x = sampler(2000, seeded(13))
    assert x.shape == (2000, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.abs().max().item() < 6
    torch.testing.assert_close(x, sampler(2000, seeded(13)), rtol=0, atol=0)
    assert not torch.equal(x, sampler(2000, seeded(14)))
    torch.testing.assert_close(sampler(2000, seeded(13), dtype=torch.float64).float(), x, rtol=0, atol=0)


def test_swiss_roll_lies_on_the_roll() -> None:
    x = swiss_roll(5000, seeded(15), dtype=torch.float64, noise=0.0)
    t = 3.5 * x.norm(dim=1)
    assert t.min().item() >= 1.5 * math.pi - 1e-9 and t.max().item() <= 4.5 * math.pi + 1e-9
    torch.testing.assert_close(x, torch.stack([t * t.cos(), t * t.sin()], dim=1) / 3.5)


def test_two_moons_lie_on_their_half_circles() -> None:
    x = two_moons(5000, seeded(16), dtype=torch.float64, noise=0.0)
    on_upper = (x.norm(dim=1) - 1).abs() < 1e-9
    on_lower = ((x - torch.tensor([1.0, 0.5], dtype=torch.float64)).norm(dim=1) - 1).abs() < 1e-9
    assert (on_upper | on_lower).all()
    assert x[on_upper, 1].min().item() >= 0 and x[on_lower & ~on_upper, 1].max().item() <= 0.5
    assert on_upper.double().mean().item() == pytest.approx(0.5, abs=0.03)


def test_rings_radii_and_proportions() -> None:
    x = rings(40_000, seeded(17), dtype=torch.float64, num_rings=4, noise=0.0)
    ring = torch.round(x.norm(dim=1) / 0.75)
    torch.testing.assert_close(x.norm(dim=1), 0.75 * ring)
    fractions = torch.bincount(ring.long(), minlength=5)[1:].double() / len(x)
    torch.testing.assert_close(fractions, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64), atol=0.01, rtol=0)


def test_spirals_lie_on_two_reflected_arms() -> None:
    x = spirals(5000, seeded(18), dtype=torch.float64, noise=0.0)
    t = 3 * x.norm(dim=1)
    arm = torch.stack([-t * t.cos(), t * t.sin()], dim=1) / 3
    on_first = (x - arm).norm(dim=1) < 1e-9
    on_second = (x + arm).norm(dim=1) < 1e-9
    assert (on_first | on_second).all()
    assert on_first.double().mean().item() == pytest.approx(0.5, abs=0.03)
    assert t.max().item() <= 3 * math.pi + 1e-9


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_checkerboard_samples_have_positive_density(dtype: torch.dtype) -> None:
    x = checkerboard(20_000, seeded(19), dtype=dtype)
    assert x.dtype == dtype
    log_prob = checkerboard_log_prob(x)
    assert log_prob.dtype == dtype
    torch.testing.assert_close(
        log_prob.double(), torch.full((20_000,), -math.log(32.0), dtype=torch.float64), rtol=1e-3, atol=0
    )


def test_checkerboard_covers_black_squares_evenly() -> None:
    x = checkerboard(40_000, seeded(20), dtype=torch.float64)
    cell = torch.floor((x + 4) / 2).long()
    assert ((cell.sum(dim=1) % 2) == 0).all()
    counts = torch.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16).double() / len(x)
    black = torch.tensor([(i + j) % 2 == 0 for i in range(4) for j in range(4)])
    assert (counts[~black] == 0).all()
    assert (counts[black] - 1 / 8).abs().max().item() < 0.01


@pytest.mark.parametrize("size", [3, 4, 6])
def test_checkerboard_log_prob_integrates_to_one(size: int) -> None:
    step = 2 / 30
    mass = checkerboard_log_prob(grid(5.0, step), size=size).exp().sum().item() * step**2
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert torch.isfinite(checkerboard_log_prob(checkerboard(1000, seeded(21), size=size), size=size)).all()


def test_checkerboard_log_prob_is_minus_inf_off_the_black_squares() -> None:
    x = torch.tensor([[-3.0, -3.0], [-1.0, -3.0], [4.5, 0.0], [0.5, 0.5], [0.5, -0.5]])
    log_prob = checkerboard_log_prob(x)
    assert log_prob[0].item() == pytest.approx(-math.log(32))
    assert log_prob[3].item() == pytest.approx(-math.log(32))
    assert torch.isneginf(log_prob[[1, 2, 4]]).all()


# ---------------------------------------------------------------- arrays


class WritesMarkerWhenUnpickled:
    """Unpickling this object creates a file: proof that a loader executed a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_load_good_npy(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / "data.npy", data)
    loaded = load_array(tmp_path / "data.npy")
    assert loaded.dtype == np.float32 and loaded.shape == (6, 2)
    np.testing.assert_array_equal(loaded, data)
    np.save(tmp_path / "ints.npy", np.arange(10).reshape(5, 2))
    assert load_array(str(tmp_path / "ints.npy")).dtype == np.float32


def test_load_good_npz(tmp_path: Path) -> None:
    a, b = np.ones((4, 3)), np.zeros((5, 1))
    np.savez(tmp_path / "one.npz", points=a)
    np.testing.assert_array_equal(load_array(tmp_path / "one.npz"), a)
    np.savez(tmp_path / "two.npz", a=a, b=b)
    np.testing.assert_array_equal(load_array(tmp_path / "two.npz", key="b"), b)
    with pytest.raises(DataError, match=r"two\.npz: .*2 arrays.*'a', 'b'"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(DataError, match=r"no array 'c'.*'a', 'b'"):
        load_array(tmp_path / "two.npz", key="c")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.arange(5.0), r"shape \(5,\)"),
        (np.zeros((3, 4, 5)), r"expected a float array of shape \(N, d\), got shape \(3, 4, 5\)"),
        (np.zeros((1, 3)), r"at least 2 points"),
        (np.zeros((4, 0)), r"at least 1 dimension"),
        (np.array([["a", "b"], ["c", "d"]]), r"numeric"),
        (np.ones((3, 2), dtype=complex), r"numeric"),
        (np.full((3, 2), 1e300), r"float32 range"),
    ],
)
def test_load_rejects_bad_arrays(tmp_path: Path, array: np.ndarray, message: str) -> None:
    path = tmp_path / "data.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=message) as error:
        load_array(path)
    assert str(error.value).startswith(str(path))


def test_load_reports_non_finite_values(tmp_path: Path) -> None:
    data = np.zeros((10, 3))
    data[2, 0] = np.nan
    data[2, 1] = np.inf
    data[7, 2] = -np.inf
    np.save(tmp_path / "data.npy", data)
    with pytest.raises(DataError, match=r"contains 3 non-finite values \(NaN or Inf\) in 2 of 10 rows"):
        load_array(tmp_path / "data.npy")


def test_object_arrays_are_refused_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    payload = np.array([WritesMarkerWhenUnpickled(marker), 1.0], dtype=object)
    np.save(tmp_path / "objects.npy", payload, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=payload)
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps(WritesMarkerWhenUnpickled(marker)))
    for name in ("objects.npy", "objects.npz"):
        with pytest.raises(DataError, match=rf"{name}: holds an object array"):
            load_array(tmp_path / name)
    with pytest.raises(DataError, match=r"pickle\.npy: cannot read file: .*neither in \.npy nor in \.npz format"):
        load_array(tmp_path / "pickle.npy")
    assert not marker.exists()
    pickle.loads(pickle.dumps(WritesMarkerWhenUnpickled(marker))).close()
    assert marker.exists(), "the payload must really execute when unpickled"


def test_unreadable_files(tmp_path: Path) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((100, 4)))
    (tmp_path / "truncated.npy").write_bytes(good.read_bytes()[:200])
    np.savez(tmp_path / "good.npz", x=np.zeros((100, 4)))
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:150])
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    for name in ("truncated.npy", "truncated.npz", "empty.npy", "garbage.npy"):
        with pytest.raises(DataError, match=rf"{name}: cannot read file: .+"):
            load_array(tmp_path / name)
    with pytest.raises(DataError, match=r"missing\.npy: no such file"):
        load_array(tmp_path / "missing.npy")
    with pytest.raises(DataError, match="single array"):
        load_array(good, key="x")
    with zipfile.ZipFile(tmp_path / "notes.npz", "w") as archive:
        archive.writestr("notes.txt", "not an array")
    with pytest.raises(DataError, match=r"notes\.npz: archive member 'notes.txt' is not a \.npy array"):
        load_array(tmp_path / "notes.npz")


def test_split_partitions_the_rows() -> None:
    x = torch.arange(100.0)[:, None].repeat(1, 3)
    train, held_out = split(x, 0.2, seeded(22))
    assert (len(train), len(held_out)) == (80, 20)
    torch.testing.assert_close(torch.cat([train, held_out])[:, 0].sort().values, torch.arange(100.0))
    again_train, again_held_out = split(x, 0.2, seeded(22))
    assert torch.equal(train, again_train) and torch.equal(held_out, again_held_out)
    assert not torch.equal(held_out, torch.arange(80.0, 100.0)[:, None].repeat(1, 3))
    tiny_train, tiny_held_out = split(x[:3], 0.01, seeded(22))
    assert (len(tiny_train), len(tiny_held_out)) == (2, 1)
    with pytest.raises(ValueError, match="heldout_fraction"):
        split(x, 1.0, seeded(22))


# ---------------------------------------------------------------- Standardizer


def anisotropic_data(n: int = 5000) -> torch.Tensor:
    std = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64)
    mean = torch.tensor([1.0, -3.0, 10.0], dtype=torch.float64)
    return mean + std * torch.randn(n, 3, generator=seeded(23), dtype=torch.float64)


@pytest.mark.parametrize("mode", ["none", "scalar", "standard"])
def test_standardizer_fit_and_round_trip(mode: str) -> None:
    x = anisotropic_data()
    standardizer = Standardizer.fit(x, mode)
    y = standardizer.forward(x)
    torch.testing.assert_close(standardizer.inverse(y), x)
    if mode == "none":
        torch.testing.assert_close(y, x)
    elif mode == "scalar":
        torch.testing.assert_close(y.mean(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
        assert len(set(standardizer.scale)) == 1
        assert y.var(dim=0, correction=0).mean().item() == pytest.approx(1.0)
    else:
        torch.testing.assert_close(y.mean(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
        torch.testing.assert_close(y.std(dim=0, correction=0), torch.ones(3, dtype=torch.float64))


def test_standardizer_constant_dimension_gets_unit_scale() -> None:
    x = torch.cat([torch.full((10, 1), 0.1), torch.arange(10.0)[:, None]], dim=1)
    standard = Standardizer.fit(x, "standard")
    assert standard.scale[0] == 1.0
    torch.testing.assert_close(standard.forward(x)[:, 0], torch.zeros(10), atol=1e-7, rtol=0)
    assert Standardizer.fit(torch.ones(5, 2), "scalar").scale == (1.0, 1.0)


@pytest.mark.parametrize("mode", ["scalar", "standard"])
def test_score_transformations_match_autograd(mode: str) -> None:
    x = anisotropic_data(200)
    standardizer = Standardizer.fit(x, mode)
    model_density = random_mixture(3, seed=24)
    # p_data(x) = q(forward(x)) / Π scale: its score by autograd through forward is score_to_data(q's score).
    x_grad = x.clone().requires_grad_(True)
    (data_score,) = torch.autograd.grad(model_density.log_prob(standardizer.forward(x_grad)).sum(), x_grad)
    torch.testing.assert_close(standardizer.score_to_data(model_density.score(standardizer.forward(x))), data_score)
    # Conversely the model-space score of a data-space density is score_to_model of its data score.
    data_density = random_mixture(3, seed=25)
    y = standardizer.forward(x).requires_grad_(True)
    (model_score,) = torch.autograd.grad(data_density.log_prob(standardizer.inverse(y)).sum(), y)
    torch.testing.assert_close(standardizer.score_to_model(data_density.score(x)), model_score)


def test_log_prob_change_of_variables_integrates_to_one() -> None:
    standardizer = Standardizer("standard", mean=(0.5, -1.0), scale=(0.5, 2.0))
    model_density = eight_gaussians(radius=2.0, std=0.4)
    step = 0.02
    ticks_x = torch.arange(-2.0 + step / 2, 3.0, step, dtype=torch.float64)
    ticks_y = torch.arange(-10.0 + step / 2, 8.0, step, dtype=torch.float64)
    x = torch.cartesian_prod(ticks_x, ticks_y)
    log_prob = standardizer.log_prob_to_data(model_density.log_prob(standardizer.forward(x)))
    assert log_prob.exp().sum().item() * step**2 == pytest.approx(1.0, abs=1e-3)


def test_sigma_conversions_match_noised_mixtures() -> None:
    data_density = random_mixture(4, seed=26)
    x = data_density.sample(300, seeded(27), dtype=torch.float64)
    standardizer = Standardizer.fit(x, "scalar")
    s = standardizer.scale[0]
    mean = torch.tensor(standardizer.mean, dtype=torch.float64)
    model_density = GaussianMixture((data_density.means - mean) / s, data_density.std / s, data_density.weights)
    sigma_model = 0.7
    sigma_data = standardizer.sigma_to_data(sigma_model)
    assert sigma_data == pytest.approx(sigma_model * s)
    assert standardizer.sigma_to_model(sigma_data) == pytest.approx(sigma_model)
    torch.testing.assert_close(
        standardizer.log_prob_to_data(model_density.log_prob(standardizer.forward(x), sigma_model)),
        data_density.log_prob(x, sigma_data),
    )
    sigmas = torch.tensor([0.1, 1.0], dtype=torch.float64)
    torch.testing.assert_close(standardizer.sigma_to_model(standardizer.sigma_to_data(sigmas)), sigmas)
    with pytest.raises(ValueError, match="per-dimension standardization; use standardize = 'scalar'"):
        Standardizer.fit(x, "standard").sigma_to_data(1.0)
    with pytest.raises(ValueError, match="per-dimension"):
        Standardizer.fit(x, "standard").sigma_to_model(1.0)


def test_standardizer_dict_round_trip_and_validation() -> None:
    standardizer = Standardizer.fit(anisotropic_data(), "standard")
    restored = Standardizer.from_dict(json.loads(json.dumps(standardizer.to_dict())))
    assert restored == standardizer
    assert isinstance(restored.mean, tuple)
    with pytest.raises(ValueError, match="missing scale"):
        Standardizer.from_dict({"mode": "none", "mean": [0.0]})
    with pytest.raises(ValueError, match="mode"):
        Standardizer("zscore", (0.0,), (1.0,))
    with pytest.raises(ValueError, match="scale"):
        Standardizer("standard", (0.0, 0.0), (1.0, 0.0))
    with pytest.raises(ValueError, match="same scale"):
        Standardizer("scalar", (0.0, 0.0), (1.0, 2.0))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        standardizer.forward(torch.zeros(4, 2))
