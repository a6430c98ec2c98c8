"""EDM (plugin edm): the preconditioning against its closed form, the loss's value at the Bayes denoiser,
the contracts, and the presets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from scorekit._registry import Registry
from scorekit.interfaces import ScoreModel
from scorekit.testing import check_conditioning, check_loss, check_schedule


def _build(registry: Registry, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


class _Zero(ScoreModel):
    """F ≡ 0: EDM's D reduces to c_skip·x, the Bayes denoiser of N(0, σ_d²I) data."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class _Echo(ScoreModel):
    """F(y; c) = y·c: exposes c_in and c_noise through the output."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x * t[:, None]


def test_preconditioning_is_table_1(registry: Registry) -> None:
    model = _build(registry, "model", "edm_precond", sigma_data=0.5)
    model.network = _Echo()
    model.bind((3,))
    x = torch.randn(4, 3, dtype=torch.float64)
    sigma = torch.tensor([0.002, 0.3, 1.0, 80.0], dtype=torch.float64)
    got = model(x, sigma)
    sd = 0.5
    s = sigma[:, None]
    c_skip = sd**2 / (s**2 + sd**2)
    c_out = s * sd / (s**2 + sd**2).sqrt()
    c_in = 1 / (s**2 + sd**2).sqrt()
    c_noise = 0.25 * s.log()
    assert torch.allclose(got, c_skip * x + c_out * (c_in * x) * c_noise, rtol=1e-12)
    assert model.parametrization == "x0"


def test_zero_network_is_the_bayes_denoiser_and_the_loss_is_d_over_2(registry: Registry) -> None:
    """For data N(0, σ_d²I), D = c_skip·x = E[x₀ ∣ x] and λ(σ)·E‖D − x₀‖² = d for every σ: the loss is d/2."""
    sd, d, n = 0.5, 4, 200_000
    model = _build(registry, "model", "edm_precond", sigma_data=sd)
    model.network = _Zero()
    model.bind((d,))
    loss = _build(registry, "loss", "edm", sigma_data=sd)
    schedule = _build(registry, "schedule", "edm")
    g = torch.Generator().manual_seed(0)
    x0 = sd * torch.randn(n, d, generator=g, dtype=torch.float64)
    value = float(loss(model, x0, schedule=schedule, generator=g))
    # Per sample ½·λ·‖D − x₀‖² has mean d/2 and std ½·√(2d) (a scaled χ²_d): 6 standard errors.
    assert abs(value - d / 2) < 6 * 0.5 * math.sqrt(2 * d) / math.sqrt(n), value


def test_contracts(registry: Registry) -> None:
    schedule = _build(registry, "schedule", "edm")
    check_schedule(schedule)
    assert check_loss(_build(registry, "loss", "edm"), schedule=schedule)
    check_conditioning(_build(registry, "loss", "edm"), schedule=schedule)
    ncsn_levels = _build(registry, "schedule", "geometric")
    check_loss(_build(registry, "loss", "edm"), schedule=ncsn_levels)


def test_the_loss_needs_a_sigma_schedule(registry: Registry) -> None:
    from scorekit.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a σ-conditioned schedule"):
        _build(registry, "loss", "edm").check(_build(registry, "schedule", "vp"))


@pytest.mark.parametrize("preset", ["edm", "edm_digits"])
def test_presets_train_and_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str], preset: str) -> None:
    from tests.core.test_cli import run_cli

    overrides = ["train.steps=4", "train.batch_size=16", "train.checkpoint_every=4", "sampler.steps=2"]
    args = ["train", preset, "--run-dir", tmp_path / "run", "--no-pictures", *(f"--set={o}" for o in overrides)]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    code, out, err = run_cli(["sample", tmp_path / "run", "-n", "3", "-o", tmp_path / "x.npy"], capsys)
    assert code == 0 and "(5 model evaluations per sample)" in out, err
