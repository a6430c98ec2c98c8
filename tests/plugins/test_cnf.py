"""Continuous normalizing flows (plugin cnf): densities against closed forms, normalization, the CLI."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from scorekit.cli import cli
from scorekit.config import structure_as
from scorekit.engine.run import CONFIG_FILE
from scorekit_cnf.flow import cnf_log_prob, standard_normal_log_prob
from tests.conftest import write_toml

A = torch.tensor([[0.3, -0.8], [0.5, -0.1]], dtype=torch.float64)


class LinearField(nn.Module):
    """f(z, t) = A z: z(1) = e^A x, so log p(x) = log N(e^A x; 0, I) + tr A."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(A.clone())

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return z @ self.a.T


def _build(registry, kind: str, table: dict):
    return structure_as(table, kind, "$", registry).build()


def test_log_density_of_a_linear_flow_matches_the_closed_form(registry) -> None:
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    want = standard_normal_log_prob(x @ torch.linalg.matrix_exp(A).T) + torch.trace(A)
    solver = _build(registry, "solver", {"kind": "dopri5", "rtol": 1e-10, "atol": 1e-10})
    estimator = _build(registry, "trace_estimator", {"kind": "exact"})
    got = cnf_log_prob(LinearField(), x, solver=solver, estimator=estimator)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-8)


def test_hutchinson_log_density_is_unbiased_for_the_exact_one(registry) -> None:
    torch.manual_seed(0)
    model = _build(registry, "model", {"kind": "cnf_mlp", "hidden": 16, "layers": 2})
    model.bind((2,))
    model.double()
    x = torch.randn(4, 2, dtype=torch.float64)
    solver = _build(registry, "solver", {"kind": "rk4", "steps": 10})
    exact = cnf_log_prob(model, x, solver=solver, estimator=_build(registry, "trace_estimator", {"kind": "exact"}))
    hutchinson = _build(registry, "trace_estimator", {"kind": "hutchinson", "fixed_probe": True})
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        draws = torch.stack(
            [cnf_log_prob(model, x, solver=solver, estimator=hutchinson, generator=g) for _ in range(400)]
        )
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])
    assert bool((se > 0).all())  # the estimate is random, and
    assert bool(((mean - exact).abs() <= 5 * se).all()), (mean - exact, se)  # unbiased within 5 SE


def test_a_cnf_density_integrates_to_one_on_a_grid(registry) -> None:
    torch.manual_seed(2)
    model = _build(registry, "model", {"kind": "cnf_mlp", "hidden": 16, "layers": 2, "activation": "tanh"})
    model.bind((2,))
    model.double()
    with torch.no_grad():  # a field strong enough to bend N(0, I) visibly
        for p in model.parameters():
            p.mul_(2.0)
    likelihood = _build(
        registry, "likelihood", {"kind": "cnf", "solver": {"kind": "dopri5", "rtol": 1e-7, "atol": 1e-7}}
    )
    side = torch.linspace(-7.0, 7.0, 141, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(side, side, indexing="xy"), dim=-1).reshape(-1, 2)
    log_p = likelihood.log_prob(model, grid)
    mass = float(log_p.exp().sum() * (side[1] - side[0]) ** 2)
    assert abs(mass - 1.0) < 0.01, mass
    base_mass = float(standard_normal_log_prob(grid).exp().sum() * (side[1] - side[0]) ** 2)
    assert float((log_p - standard_normal_log_prob(grid)).abs().max()) > 0.5  # not just the base density
    assert abs(base_mass - 1.0) < 1e-3


def test_samples_of_a_linear_flow_have_the_pushed_forward_covariance(registry) -> None:
    sampler = _build(registry, "sampler", {"kind": "cnf"})
    g = torch.Generator().manual_seed(3)
    x = sampler.sample(LinearField(), (40000, 2), schedule=None, generator=g, dtype=torch.float64)
    inverse = torch.linalg.matrix_exp(-A)
    covariance = inverse @ inverse.T
    empirical = torch.cov(x.T)
    # Entry-wise standard error of a sample covariance: √((Σ_ii Σ_jj + Σ_ij²)/n).
    se = ((covariance.diagonal()[:, None] * covariance.diagonal()[None, :] + covariance**2) / x.shape[0]).sqrt()
    assert bool(((empirical - covariance).abs() <= 5 * se).all()), (empirical, covariance)


def test_adjoint_and_direct_gradients_of_the_cnf_loss_agree(registry) -> None:
    torch.manual_seed(4)
    model = _build(registry, "model", {"kind": "cnf_mlp", "hidden": 8, "layers": 2})
    model.bind((2,))
    model.double()
    x = torch.randn(16, 2, dtype=torch.float64)
    grads = []
    for solver in (
        {"kind": "dopri5", "rtol": 1e-9, "atol": 1e-9},
        {"kind": "adjoint", "solver": {"kind": "dopri5", "rtol": 1e-9, "atol": 1e-9}},
    ):
        loss = _build(registry, "loss", {"kind": "cnf", "solver": solver, "estimator": {"kind": "exact"}})
        model.zero_grad()
        loss(model, x).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    assert float((grads[0] - grads[1]).norm() / grads[1].norm()) < 1e-6


def _tiny_cnf_run(tmp_path: Path, standardize: str) -> Path:
    from tests.conftest import preset_dict

    raw = preset_dict("cnf")
    raw["data"].update(num_train=1000, num_heldout=400, standardize=standardize)
    raw["model"].update(hidden=16, layers=2)
    raw["train"].update(steps=20, batch_size=64, log_every=10, checkpoint_every=20, progress=False)
    raw["sample"] = {"num": 100}
    raw["eval"] = {"num_samples": 200, "num_points": 200}
    config = write_toml(tmp_path / "cnf.toml", raw)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(config), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "density.png").stat().st_size > 0
    return run_dir


def test_logprob_cli_accounts_for_standardization(tmp_path: Path) -> None:
    run_dir = _tiny_cnf_run(tmp_path, standardize="scalar")
    side = np.linspace(-9.0, 9.0, 121)
    grid = np.stack(np.meshgrid(side, side, indexing="xy"), axis=-1).reshape(-1, 2)
    np.save(tmp_path / "grid.npy", grid)
    result = CliRunner().invoke(
        cli, ["logprob", str(run_dir), "-i", str(tmp_path / "grid.npy"), "-o", str(tmp_path / "lp.npy")]
    )
    assert result.exit_code == 0, result.output
    log_p = np.load(tmp_path / "lp.npy")
    assert log_p.shape == (grid.shape[0],)
    # A density in data space integrates to 1 there; without the log-determinant of the scalar
    # standardization (scale ≈ 2.9 for eight_gaussians) the sum would be off by scale² ≈ 8.
    mass = float(np.exp(log_p).sum() * (side[1] - side[0]) ** 2)
    assert abs(mass - 1.0) < 0.02, mass
    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert '"heldout_log_likelihood"' in result.output and '"fisher"' not in result.output


def test_logprob_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.core.test_cli import run_cli

    run_dir = _tiny_cnf_run(tmp_path, standardize="none")
    np.save(tmp_path / "three.npy", np.zeros((5, 3)))
    np.save(tmp_path / "two.npy", np.zeros((5, 2)))
    out = tmp_path / "x.npy"
    code, _, err = run_cli(["logprob", run_dir, "-i", tmp_path / "three.npy", "-o", out], capsys)
    assert code == 2 and "input must have shape (N, 2) or (2), got (5, 3)" in err
    code, _, err = run_cli(["score", run_dir, "-i", tmp_path / "two.npy", "-o", out], capsys)
    assert code == 2 and "predicts a velocity, not a score" in err
    saved = tomllib.loads((run_dir / CONFIG_FILE).read_text())
    del saved["likelihood"]
    write_toml(run_dir / CONFIG_FILE, saved)
    code, _, err = run_cli(["logprob", run_dir, "-i", tmp_path / "two.npy", "-o", out], capsys)
    assert code == 2 and "no [likelihood] section" in err, err
    assert not out.exists()
