"""Standardizer: round trips and the transformation of scores, σ and log-densities."""

from __future__ import annotations

import json

import pytest
import torch

from scorekit.data import (
    GaussianMixture,
    Standardizer,
    eight_gaussians,
)
from scorekit.errors import ConfigError
from tests.core.data_helpers import random_mixture, seeded

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
    with pytest.raises(ConfigError, match="per-dimension standardization; use standardize = 'scalar'"):
        Standardizer.fit(x, "standard").sigma_to_data(1.0)
    with pytest.raises(ConfigError, match="per-dimension"):
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


def image_data(n: int = 500) -> torch.Tensor:
    """(n, 1, 4, 4) images whose 16 pixels have different means and scales."""
    pixel_std = torch.linspace(0.5, 4.0, 16, dtype=torch.float64).reshape(1, 4, 4)
    pixel_mean = torch.linspace(-3.0, 3.0, 16, dtype=torch.float64).reshape(1, 4, 4)
    return pixel_mean + pixel_std * torch.randn(n, 1, 4, 4, generator=seeded(28), dtype=torch.float64)


@pytest.mark.parametrize("mode", ["none", "scalar", "standard"])
def test_standardizer_on_images(mode: str) -> None:
    x = image_data()
    standardizer = Standardizer.fit(x, mode)
    flat = x.reshape(len(x), 16)
    assert standardizer == Standardizer.fit(flat, mode)
    y = standardizer.forward(x)
    assert y.shape == x.shape
    # Pixel (c, i, j) is dimension 4i + j of the row-major flattening, in both directions.
    torch.testing.assert_close(y.reshape(len(x), 16), standardizer.forward(flat))
    torch.testing.assert_close(standardizer.inverse(y), x)
    scores = torch.randn(x.shape, generator=seeded(29), dtype=torch.float64)
    torch.testing.assert_close(standardizer.score_to_model(standardizer.score_to_data(scores)), scores)
    if mode == "none":
        torch.testing.assert_close(y, x, rtol=0, atol=0)
        return
    torch.testing.assert_close(y.mean(dim=0), torch.zeros(1, 4, 4, dtype=torch.float64), atol=1e-12, rtol=0)
    if mode == "scalar":
        assert len(set(standardizer.scale)) == 1
        assert y.var(dim=0, correction=0).mean().item() == pytest.approx(1.0)
        torch.testing.assert_close(standardizer.score_to_data(scores), scores / standardizer.scale[0])
    else:
        torch.testing.assert_close(y.std(dim=0, correction=0), torch.ones(1, 4, 4, dtype=torch.float64))
        torch.testing.assert_close(
            standardizer.score_to_data(scores), scores / flat.std(dim=0, correction=0).reshape(1, 4, 4)
        )


def test_standardizer_rejects_images_of_another_size() -> None:
    standardizer = Standardizer.fit(image_data(50), "standard")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 16\), got shape \(3, 1, 4, 5\)"):
        standardizer.forward(torch.zeros(3, 1, 4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(N, d\) or \(N, \*event\)"):
        Standardizer.fit(torch.zeros(3, 0, 4), "scalar")
