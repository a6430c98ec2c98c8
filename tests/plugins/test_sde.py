"""SDEs: Euler–Maruyama's orders on Ornstein–Uhlenbeck, kernels against simulation, VP against DDPM,
and the Langevin SDE of an analytic score keeping its distribution."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scorekit.data.mixture import GaussianMixture
from scorekit_ddpm.config import LinearScheduleConfig
from scorekit_ddpm.schedules import LinearSchedule
from scorekit_sde.config import OUConfig, SubVPConfig, VEConfig, VPConfig
from scorekit_sde.sde import VESDE, VPSDE, LangevinSDE, OrnsteinUhlenbeck, SubVPSDE
from scorekit_sde.solvers import brownian_increments, solve_sde

THETA, SIGMA, X0, T = 1.5, 0.8, 2.0, 1.0


def _ou() -> OrnsteinUhlenbeck:
    return OrnsteinUhlenbeck(OUConfig(theta=THETA, sigma=SIGMA, T=5.0))


def _slope(hs: list[float], errors: list[float]) -> float:
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])


def _shared_path(n: int, fine: int = 2**12) -> tuple[torch.Tensor, torch.Tensor]:
    """Brownian increments on a fine grid of [0, T] and the OU solution X(T) driven by them.

    The exact transition X(t+Δ) = e^{−θΔ}X(t) + σ∫e^{−θ(t+Δ−s)}dW_s with the integral taken as
    e^{−θΔ/2}·ΔW: per step its variance is right to O(Δ³), so X(T) is exact up to O(Δ_fine²).
    """
    times = torch.linspace(0, T, fine + 1, dtype=torch.float64)
    dw = brownian_increments(times, (n, 1), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.full((n, 1), X0, dtype=torch.float64)
    dt = T / fine
    for k in range(fine):
        x = math.exp(-THETA * dt) * x + SIGMA * math.exp(-THETA * dt / 2) * dw[k]
    return dw, x


def _coarse_solves(method: str, dw: torch.Tensor, steps_list: tuple[int, ...]) -> list[torch.Tensor]:
    fine, n = dw.shape[0], dw.shape[1]
    outs = []
    for steps in steps_list:
        coarse = dw.reshape(steps, fine // steps, n, 1).sum(dim=1)
        x0 = torch.full((n, 1), X0, dtype=torch.float64)
        outs.append(
            solve_sde(_ou(), x0, torch.linspace(0, T, steps + 1, dtype=torch.float64), method=method, dw=coarse)
        )
    return outs


def test_euler_maruyama_strong_order_on_ornstein_uhlenbeck() -> None:
    """E|X_h(T) − X(T)| against the exact solution on the same Brownian path.

    EM's strong order is ½ in general and 1 for additive noise, which OU has: the fitted slope must be
    ≥ ½, and it is ≈ 1.
    """
    dw, reference = _shared_path(4000)
    steps_list = (8, 16, 32, 64)
    errors = [float((out - reference).abs().mean()) for out in _coarse_solves("euler_maruyama", dw, steps_list)]
    slope = _slope([T / k for k in steps_list], errors)
    assert slope >= 0.5
    assert slope == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize(("method", "order"), [("euler_maruyama", 1.0), ("heun", 2.0)])
def test_weak_order_on_ornstein_uhlenbeck(method: str, order: float) -> None:
    """|E[X_h(T)] − E[X(T)]| + |E[X_h(T)²] − E[X(T)²]| falls like h (EM) and h² (Heun).

    The expectations are differences paired on one Brownian path per sample, so their sampling error
    is of the strong error's size over √n, far below the bias being measured; the reference's
    moments are checked against the closed form a(T)x₀, a²x₀² + s². Over h = 1/4 … 1/32 (θh up to
    0.375, not yet asymptotic) the fitted slopes are ≈ 1.0 for EM and ≈ 2.3 for Heun; Heun is checked
    to be second order (slope ≥ 1.7), EM first order (1 ± 0.25).
    """
    dw, reference = _shared_path(20000, fine=2**10)
    a, s = (float(v) for v in _ou().kernel(torch.tensor([T], dtype=torch.float64)))
    assert float(reference.mean()) == pytest.approx(a * X0, abs=0.02)
    assert float(reference.square().mean()) == pytest.approx((a * X0) ** 2 + s**2, abs=0.02)
    steps_list = (4, 8, 16, 32)
    errors = [
        abs(float((out - reference).mean())) + abs(float((out.square() - reference.square()).mean()))
        for out in _coarse_solves(method, dw, steps_list)
    ]
    slope = _slope([T / k for k in steps_list], errors)
    if order == 1.0:
        assert slope == pytest.approx(1.0, abs=0.25), errors
    else:
        assert slope >= 1.7, errors


@pytest.mark.parametrize(
    "sde",
    [
        VESDE(VEConfig(sigma_min=0.01, sigma_max=5.0)),
        VPSDE(VPConfig()),
        SubVPSDE(SubVPConfig()),
        OrnsteinUhlenbeck(OUConfig(theta=2.0, sigma=0.5)),
    ],
    ids=["ve", "vp", "subvp", "ou"],
)
def test_kernel_matches_simulating_the_sde(sde: VESDE) -> None:
    """x(t) from x₀ by Heun with 400 steps has mean a(t)·x₀ and std s(t) (5 standard errors + 1%)."""
    n, t_end = 40000, 0.6
    x0 = torch.full((n, 2), 1.5, dtype=torch.float64)
    times = torch.linspace(0, t_end, 401, dtype=torch.float64)
    x = solve_sde(sde, x0, times, method="heun", generator=torch.Generator().manual_seed(0))
    a, s = (float(v) for v in sde.kernel(torch.tensor([t_end], dtype=torch.float64)))
    assert torch.allclose(
        x.mean(0), torch.full((2,), a * 1.5, dtype=torch.float64), atol=5 * s / math.sqrt(n) + 0.01 * a
    )
    assert torch.allclose(x.std(0), torch.full((2,), s, dtype=torch.float64), rtol=0.01 + 5 / math.sqrt(2 * n))


def test_vp_marginals_are_ddpm_s_closed_form_in_the_discrete_limit() -> None:
    """DDPM with β_i = β(i/N)/N: ᾱ_i → a(t)² at t = (i + 1)/N, the gap shrinking like 1/N."""
    sde = VPSDE(VPConfig(beta_min=0.1, beta_max=20.0))
    gaps = []
    for steps in (250, 1000, 4000):
        ddpm = LinearSchedule(LinearScheduleConfig(num_steps=steps, beta_start=0.1 / steps, beta_end=20.0 / steps))
        t = (torch.arange(steps, dtype=torch.float64) + 1) / steps
        a, _ = sde.kernel(t)
        gaps.append(float((ddpm.alpha_bars - a.square()).abs().max()))
    assert gaps[1] < 3e-3
    assert gaps[0] / gaps[1] == pytest.approx(4, rel=0.25) and gaps[1] / gaps[2] == pytest.approx(4, rel=0.25)


def test_prior_matches_the_kernel_at_T() -> None:
    for sde in (VESDE(VEConfig()), VPSDE(VPConfig()), OrnsteinUhlenbeck(OUConfig(T=20.0))):
        a, s = (float(v) for v in sde.kernel(torch.tensor([sde.T], dtype=torch.float64)))
        assert math.hypot(a, s) == pytest.approx(sde.prior_std(), rel=1e-12)
        assert a < 1e-2 or isinstance(sde, VESDE)
    sde = VPSDE(VPConfig())
    x = torch.randn(5, 3, dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    assert torch.allclose(sde.prior_log_prob(x), expected)


def test_langevin_sde_keeps_a_mixture_stationary() -> None:
    """Exact samples of a 2-D mixture stay distributed as the mixture under dx = ½∇log p dt + dw."""
    density = GaussianMixture([[-1.0, 0.0], [1.5, 1.0]], 0.6, [0.4, 0.6])
    n = 20000
    x0 = density.sample(n, generator=torch.Generator().manual_seed(0))
    sde = LangevinSDE(lambda x: density.score(x))
    times = torch.linspace(0, 2.0, 801, dtype=torch.float64)
    x = solve_sde(sde, x0, times, method="heun", generator=torch.Generator().manual_seed(1))
    reference = density.sample(n, generator=torch.Generator().manual_seed(2))
    se = reference.std(0) / math.sqrt(n)
    assert torch.allclose(x.mean(0), reference.mean(0), atol=float(6 * se.max()))
    assert torch.allclose(x.std(0), reference.std(0), rtol=0.03)
    # It moved: the chain is not the identity.
    assert float((x - x0).abs().mean()) > 0.5


def test_solver_rejects_bad_input() -> None:
    sde = _ou()
    with pytest.raises(ValueError, match="method"):
        solve_sde(sde, torch.zeros(2, 1), torch.linspace(0, 1, 3), method="rk4")
    with pytest.raises(ValueError, match="dw must have shape"):
        solve_sde(sde, torch.zeros(2, 1), torch.linspace(0, 1, 3), dw=torch.zeros(3, 2, 1))


def test_vpsde_preset_trains_samples_and_gives_log_densities_through_the_runner(tmp_path: Path) -> None:
    """The vpsde preset cut to 60 steps: ncsn's DSM on the SDE's continuous t, eval's Fisher rows at the
    SDE's times, reverse-SDE samples, and `scorekit logprob` through the probability-flow ODE.

    A smoke run of the pieces together: the loss fell from its first logged value, the samples and
    log-densities are finite, and Hutchinson's estimate of the log-densities agrees with the exact
    trace's to within its own noise.
    """
    import json

    from click.testing import CliRunner

    from scorekit.cli import cli
    from tests.conftest import preset_dict, write_toml

    raw = preset_dict("vpsde")
    raw["data"].update(num_train=1000, num_heldout=300)
    raw["model"].update(hidden=32, layers=2)
    raw["schedule"]["num_levels"] = 100
    raw["sampler"]["steps"] = 50
    raw["train"].update(steps=60, batch_size=128, log_every=10, checkpoint_every=60, progress=False)
    raw["sample"] = {"num": 100}
    raw["eval"] = {"num_samples": 200, "num_points": 100}
    # Looser tolerances than the default 1e-5: the smoke test needs finite values and the same
    # solve for the exact and the Hutchinson trace, not accuracy (27 of 30 s went to the solves).
    raw["likelihood"]["solver"] = {"kind": "dopri5", "rtol": 1e-3, "atol": 1e-3}
    run_dir = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", str(write_toml(tmp_path / "c.toml", raw)), "--run-dir", str(run_dir), "--no-pictures"]
    )
    assert result.exit_code == 0, result.output
    losses = [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    result = runner.invoke(cli, ["eval", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    times = [row["t"] for row in report["fisher"]]
    assert times[0] == pytest.approx(1.0) and times[-1] == pytest.approx(1e-3)
    assert math.isfinite(report["heldout_log_likelihood"]) and math.isfinite(report["mmd"])

    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    result = runner.invoke(cli, ["logprob", str(run_dir), "-i", str(points), "-o", str(tmp_path / "lp.npy")])
    assert result.exit_code == 0 and "nats" in result.output, result.output
    exact = np.load(tmp_path / "lp.npy")
    assert exact.shape == (64,) and np.isfinite(exact).all()
    config = run_dir / "config.toml"
    exact_table = '[likelihood.estimator]\nkind = "exact"\nvjps_per_pass = 64\n'
    assert exact_table in config.read_text()
    config.write_text(
        config.read_text().replace(exact_table, '[likelihood.estimator]\nkind = "hutchinson"\nprobes = 4\n')
    )
    result = runner.invoke(cli, ["logprob", str(run_dir), "-i", str(points), "-o", str(tmp_path / "lp_h.npy")])
    assert result.exit_code == 0, result.output
    difference = np.load(tmp_path / "lp_h.npy") - exact
    assert np.abs(difference).max() > 0
    assert abs(difference.mean()) < 5 * difference.std() / math.sqrt(len(difference)) + 1e-4


def test_logprob_of_an_image_run_reports_bits_per_dimension(tmp_path: Path) -> None:
    """A VP-SDE unet on 8×8 digits (5 steps): `logprob` with Hutchinson's estimator writes log p per image
    and prints the mean in bits/dim, −mean/(64·ln 2)."""
    import re

    from click.testing import CliRunner

    from scorekit.cli import cli
    from tests.conftest import write_toml

    raw = {
        "data": {"kind": "digits"},
        "model": {"kind": "unet", "channels": 8, "channel_mult": [1], "time_scale": 999.0},
        "schedule": {"kind": "vp"},
        "loss": {"kind": "ncsn"},
        "likelihood": {
            "kind": "probability_flow",
            "solver": {"kind": "rk4", "steps": 4},
            "estimator": {"kind": "hutchinson", "probes": 1},
        },
        "train": {"steps": 5, "batch_size": 16, "checkpoint_every": 5, "progress": False},
    }
    run_dir = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", str(write_toml(tmp_path / "c.toml", raw)), "--run-dir", str(run_dir), "--no-pictures"]
    )
    assert result.exit_code == 0, result.output
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).uniform(-1, 1, size=(4, 1, 8, 8)).astype(np.float32))
    result = runner.invoke(cli, ["logprob", str(run_dir), "-i", str(images), "-o", str(tmp_path / "lp.npy")])
    assert result.exit_code == 0, result.output
    log_p = np.load(tmp_path / "lp.npy")
    assert log_p.shape == (4,) and np.isfinite(log_p).all()
    bits = float(re.search(r"(-?[0-9.]+) bits/dim", result.output).group(1))  # type: ignore[union-attr]
    assert bits == pytest.approx(-log_p.mean() / (64 * math.log(2)), abs=1e-4)


def test_logprob_of_an_ncsn_run_through_set(tmp_path: Path) -> None:
    """An NCSN run has no [likelihood]: `logprob` says how to get one, and `--set likelihood.kind=probability_flow`
    gives it through the VE SDE in σ time."""
    from click.testing import CliRunner

    from scorekit.cli import cli, main
    from tests.conftest import preset_dict, write_toml

    raw = preset_dict("ncsn")
    raw["data"].update(num_train=500, num_heldout=100)
    raw["model"].update(hidden=16, layers=1)
    raw["train"].update(steps=20, batch_size=64, checkpoint_every=20, progress=False)
    run_dir = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", str(write_toml(tmp_path / "c.toml", raw)), "--run-dir", str(run_dir), "--no-pictures"]
    )
    assert result.exit_code == 0, result.output
    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32))
    args = ["logprob", str(run_dir), "-i", str(points), "-o", str(tmp_path / "lp.npy")]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--set", "likelihood.kind=probability_flow"])
    assert exit_info.value.code == 0
    log_p = np.load(tmp_path / "lp.npy")
    assert log_p.shape == (8,) and np.isfinite(log_p).all()
