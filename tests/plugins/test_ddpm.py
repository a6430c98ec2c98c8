"""DDPM: schedules against hand-derived values, the forward chain against its closed form, the
ε-loss against DSM, and the samplers against exact Gaussian answers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from scorekit import ScoreModel
from scorekit.data.mixture import GaussianMixture
from scorekit.engine.sampling import sample_in_chunks
from scorekit.errors import ConfigError
from scorekit.interfaces import select_levels
from scorekit.parametrization import Reparametrized, as_parametrization, convert, view_for
from scorekit_ddpm.config import (
    AncestralConfig,
    BetasConfig,
    CosineScheduleConfig,
    DDIMConfig,
    DDPMLossConfig,
    LinearScheduleConfig,
)
from scorekit_ddpm.losses import DDPMLoss
from scorekit_ddpm.samplers import AncestralSampler, DDIMSampler, transitions
from scorekit_ddpm.schedules import BetaSchedule, CosineSchedule, ExplicitBetas, LinearSchedule
from scorekit_dsm.config import NCSNLossConfig
from scorekit_dsm.losses import NCSNLoss
from scorekit_langevin.config import LangevinConfig
from scorekit_langevin.sampler import LangevinSampler


class GaussianEpsilon(ScoreModel):
    """The exact ε-prediction for data N(μ, σ₀²I) under the schedule's kernel.

    x_t ~ N(a·μ, (a²σ₀² + s²)I), so ∇log p_t(x) = −(x − a·μ)/(a²σ₀² + s²) and ε* = −s·∇log p_t.
    """

    parametrization = "epsilon"

    def __init__(self, schedule: BetaSchedule, mean: list[float], std: float) -> None:
        super().__init__()
        self.schedule = schedule
        self.mean = torch.tensor(mean)
        self.std = std
        self.event_shape = (len(mean),)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = (v[:, None].to(x.dtype) for v in self.schedule.kernel(t))
        variance = a**2 * self.std**2 + s**2
        return s * (x - a * self.mean.to(x)) / variance


def linear(num_steps: int = 1000) -> LinearSchedule:
    return LinearSchedule(LinearScheduleConfig(num_steps=num_steps))


# -- schedules ------------------------------------------------------------------------------------
def test_linear_schedule_against_hand_computed_values() -> None:
    schedule = linear()
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    alpha_bars = [math.prod(1 - b for b in betas[: i + 1]) for i in (0, 1, 499, 999)]
    assert schedule.betas[[0, 1, 499, 999]].tolist() == pytest.approx([betas[i] for i in (0, 1, 499, 999)], rel=1e-12)
    assert schedule.alpha_bars[[0, 1, 499, 999]].tolist() == pytest.approx(alpha_bars, rel=1e-10)
    # ᾱ_T ≈ exp(−Σβ) = exp(−10.05) ≈ 4.0e-5: the chain ends at N(0, I) up to a 0.0064 multiple of x₀.
    assert float(schedule.alpha_bars[-1]) == pytest.approx(4.04e-5, rel=0.01)
    a, s = schedule.kernel(torch.tensor([0.0, 999.0]))
    assert a.tolist() == pytest.approx([math.sqrt(alpha_bars[0]), math.sqrt(alpha_bars[3])], rel=1e-6)
    assert s.tolist() == pytest.approx([math.sqrt(1 - alpha_bars[0]), math.sqrt(1 - alpha_bars[3])], rel=1e-6)
    assert schedule.levels().tolist() == list(range(999, -1, -1))


def test_posterior_terms_are_the_gaussian_conditional() -> None:
    """q(x_{t−1} ∣ x_t, x₀) ∝ q(x_t ∣ x_{t−1})·q(x_{t−1} ∣ x₀): precisions add, means combine."""
    schedule = CosineSchedule(CosineScheduleConfig(num_steps=200))
    for t in (1, 7, 100, 199):
        beta, alpha = float(schedule.betas[t]), float(schedule.alphas[t])
        bar_prev = float(schedule.alpha_bars[t - 1])
        precision = alpha / beta + 1 / (1 - bar_prev)
        assert float(schedule.posterior_variance[t]) == pytest.approx(1 / precision, rel=1e-10)
        assert float(schedule.posterior_mean_coef_xt[t]) == pytest.approx(
            math.sqrt(alpha) / beta / precision, rel=1e-10
        )
        assert float(schedule.posterior_mean_coef_x0[t]) == pytest.approx(
            math.sqrt(bar_prev) / (1 - bar_prev) / precision, rel=1e-10
        )
    # At t = 0 the posterior is x₀ itself.
    assert float(schedule.posterior_variance[0]) == 0.0
    assert float(schedule.posterior_mean_coef_x0[0]) == pytest.approx(1.0)
    assert float(schedule.posterior_mean_coef_xt[0]) == 0.0


def test_cosine_schedule_follows_its_closed_form() -> None:
    schedule = CosineSchedule(CosineScheduleConfig(num_steps=1000))

    def f(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    # ᾱ_t = f((t+1)/T)/f(0) wherever no β was capped (all but the last few steps).
    for t in (0, 10, 500, 900):
        assert float(schedule.alpha_bars[t]) == pytest.approx(f((t + 1) / 1000) / f(0), rel=1e-9)
    assert float(schedule.betas.max()) == pytest.approx(0.999)
    assert float(schedule.alpha_bars[-1]) < 1e-6


def test_explicit_betas_and_their_validation() -> None:
    schedule = ExplicitBetas(BetasConfig(betas=[0.1, 0.2, 0.5]))
    assert schedule.alpha_bars.tolist() == pytest.approx([0.9, 0.72, 0.36])
    with pytest.raises(ValueError, match="entry 1"):
        BetasConfig(betas=[0.1, 1.0])
    with pytest.raises(ValueError, match="at least 2"):
        BetasConfig(betas=[0.1])
    with pytest.raises(ValueError, match="beta_end"):
        LinearScheduleConfig(beta_start=0.02, beta_end=0.01)


def test_closed_form_matches_iterating_the_chain() -> None:
    """x_t from T steps of √(1−β)·x + √β·ε has mean √ᾱ_t·x₀ and variance 1 − ᾱ_t (6 standard errors)."""
    schedule = linear(100)
    n = 20000
    x0 = torch.tensor([1.5, -2.0]).expand(n, 2).double()
    states = schedule.chain(x0, generator=torch.Generator().manual_seed(0))
    assert states.shape == (100, n, 2)
    for t in (0, 10, 50, 99):
        bar = float(schedule.alpha_bars[t])
        mean, var = states[t].mean(0), states[t].var(0)
        se_mean = math.sqrt((1 - bar) / n)
        assert torch.allclose(mean, math.sqrt(bar) * x0[0], atol=6 * se_mean)
        se_var = (1 - bar) * math.sqrt(2 / n)
        assert torch.allclose(var, torch.full((2,), 1 - bar, dtype=torch.float64), atol=6 * se_var)
        # ... and perturb() draws from the same closed form.
        x_t, _ = schedule.perturb(x0, torch.full((n,), float(t)), generator=torch.Generator().manual_seed(1))
        assert torch.allclose(x_t.mean(0), math.sqrt(bar) * x0[0], atol=6 * se_mean)


# -- parametrizations and the loss ----------------------------------------------------------------
def test_parametrizations_convert_into_one_another() -> None:
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    a, s = torch.rand(5, generator=g) + 0.1, torch.rand(5, generator=g) + 0.1
    x_t = a[:, None] * x0 + s[:, None] * eps
    truth = {"epsilon": eps, "x0": x0, "v": a[:, None] * eps - s[:, None] * x0, "score": -eps / s[:, None]}
    for source, value in truth.items():
        for target, expected in truth.items():
            got = convert(value, x_t, a, s, source=source, target=target)
            assert torch.allclose(got, expected, atol=1e-5), (source, target)


def test_ddpm_loss_is_dsm_with_s_squared_weight_on_an_epsilon_net() -> None:
    schedule = linear(50)
    model = GaussianEpsilon(schedule, [0.5, -0.5], 0.7)
    model.mean = model.mean + 0.3  # not the optimum, so the loss is not ~d/2 by construction
    x0 = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    ddpm = DDPMLoss(DDPMLossConfig())(model, x0, schedule=schedule, generator=torch.Generator().manual_seed(3))
    score_view = as_parametrization(model, "score", schedule)  # a score network of the same function
    ncsn_loss = NCSNLoss(NCSNLossConfig())
    ncsn = ncsn_loss(
        view_for(score_view, ncsn_loss, schedule), x0, schedule=schedule, generator=torch.Generator().manual_seed(3)
    )
    assert float(ddpm) == pytest.approx(float(ncsn), rel=1e-5)
    as_score = DDPMLoss(DDPMLossConfig(prediction="score"))  # DSM with λ = s², computed on the score itself
    dsm = as_score(
        view_for(model, as_score, schedule), x0, schedule=schedule, generator=torch.Generator().manual_seed(3)
    )
    assert float(dsm) == pytest.approx(float(ddpm), rel=1e-5)
    # For data N(μ, σ₀²) the exact ε* leaves E‖ε − ε*‖² = Σ_d a²σ₀²/(a²σ₀² + s²): check the loss's value.
    exact = GaussianEpsilon(schedule, [0.0, 0.0], 1.0)
    x0 = torch.randn(200000, 2, generator=torch.Generator().manual_seed(1))
    loss = DDPMLoss(DDPMLossConfig())(exact, x0, schedule=schedule, generator=torch.Generator().manual_seed(2))
    a2 = schedule.alpha_bars.float()
    expected = float((0.5 * 2 * a2 / (a2 + (1 - a2))).mean())
    assert float(loss) == pytest.approx(expected, rel=0.02)


def test_every_ddpm_target_is_zero_on_the_exact_answer_whatever_the_network_predicts() -> None:
    """Every target of the loss is zero on the exact answer, whatever the network predicts (built from the ε-oracle)."""
    schedule = linear(50)
    oracle = GaussianEpsilon(schedule, [0.0], 1.0)

    class Exact(ScoreModel):
        def __init__(self, prediction: str) -> None:
            super().__init__()
            self.parametrization = prediction  # type: ignore[misc]
            self.noise: torch.Tensor | None = None
            self.x0: torch.Tensor | None = None

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            a, s = schedule.kernel(t)
            eps = (x - a[:, None] * self.x0) / s[:, None]
            return convert(eps, x, a, s, source="epsilon", target=self.parametrization)

    x0 = torch.randn(64, 1, generator=torch.Generator().manual_seed(0))
    for target in ("epsilon", "x0", "v", "score"):
        loss = DDPMLoss(DDPMLossConfig(prediction=target))
        assert loss.parametrization == target
        for prediction in ("epsilon", "x0", "v", "score"):
            model = Exact(prediction)
            model.x0 = x0
            value = loss(
                view_for(model, loss, schedule), x0, schedule=schedule, generator=torch.Generator().manual_seed(1)
            )
            assert float(value) < 1e-8, (target, prediction)
    assert oracle.parametrization == "epsilon"


# -- samplers --------------------------------------------------------------------------------------
def test_step_coefficients_are_ho_et_al_s() -> None:
    schedule = linear()
    rows = transitions(schedule, schedule.levels())
    for k, t in ((0, 999), (500, 499), (998, 1)):
        row = rows[k]
        assert row["beta"] == pytest.approx(float(schedule.betas[t]), rel=1e-6)
        assert row["posterior_variance"] == pytest.approx(float(schedule.posterior_variance[t]), rel=1e-6)
        assert row["coef_x0"] == pytest.approx(float(schedule.posterior_mean_coef_x0[t]), rel=1e-6)
        assert row["coef_xt"] == pytest.approx(float(schedule.posterior_mean_coef_xt[t]), rel=1e-6)
    assert rows[-1]["posterior_variance"] == 0.0 and rows[-1]["coef_x0"] == pytest.approx(1.0)


def test_select_levels_keeps_both_ends() -> None:
    levels = linear(1000).levels()
    chosen = select_levels(levels, 50)
    assert len(chosen) == 50 and chosen[0] == 999 and chosen[-1] == 0
    assert bool((chosen[1:] < chosen[:-1]).all())
    assert torch.equal(select_levels(levels, None), levels)


def _propagate(
    sampler: AncestralSampler | DDIMSampler, schedule: BetaSchedule, mu: float, var0: float
) -> tuple[float, float]:
    """Mean and std of the sampler's output for data N(μ, var0) and the exact ε*, by linear-Gaussian recursion.

    With ε* = s(x − aμ)/v (v = a²·var0 + s²) every step x_p = w₀·x̂₀ + w_x·x + w_ε·ε* + σ·z is affine in x.
    """
    rows = transitions(schedule, sampler._levels(schedule))
    mean, var = 0.0, rows[0]["a_t"] ** 2 + rows[0]["s_t"] ** 2
    for row in rows:
        a, s = row["a_t"], row["s_t"]
        v = a * a * var0 + s * s
        sigma, w0, wx, we = sampler._step(row)
        slope = w0 * a * var0 / v + wx + we * s / v
        mean = slope * mean + w0 * s * s * mu / v - we * s * a * mu / v
        var = slope**2 * var + sigma**2
    return mean, math.sqrt(var)


@pytest.mark.parametrize(
    "sampler",
    [
        AncestralSampler(AncestralConfig()),
        AncestralSampler(AncestralConfig(variance="beta")),
        AncestralSampler(AncestralConfig(steps=100)),
        DDIMSampler(DDIMConfig(steps=50)),
        DDIMSampler(DDIMConfig(steps=50, eta=1.0)),
        # Grids by name land on the discrete chain's nearest levels; the recursion walks the same ones.
        DDIMSampler(DDIMConfig(steps=20, grid="karras")),
        AncestralSampler(AncestralConfig(steps=100, grid="logsnr")),
    ],
)
def test_samplers_with_the_exact_epsilon(sampler: AncestralSampler | DDIMSampler) -> None:
    """Data N(μ, σ₀²I) and the exact ε*: each step is affine, so the output's mean and std are known.

    The sampled mean and std match that recursion (5 standard errors), and for 1000 ancestral steps the
    recursion itself is within 1% of the data's σ₀; a coarse chain loses variance (β̃ ignores the
    uncertainty of x̂₀), which the recursion predicts: 0.468 for 100 steps.
    """
    schedule = linear()
    mean, std, n = [2.0, -1.0], 0.5, 20000
    model = GaussianEpsilon(schedule, mean, std)
    x = sample_in_chunks(
        sampler,
        model,
        n,
        (2,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=n,
    ).double()
    for d, mu in enumerate(mean):
        m, sd = _propagate(sampler, schedule, mu, std**2)
        assert float(x[:, d].mean()) == pytest.approx(m, abs=5 * sd / math.sqrt(n))
        assert float(x[:, d].std()) == pytest.approx(sd, abs=5 * sd / math.sqrt(2 * n))
        assert m == pytest.approx(mu, abs=0.01)
    if isinstance(sampler, AncestralSampler) and sampler.config.steps is None:
        assert _propagate(sampler, schedule, 0.0, std**2)[1] == pytest.approx(std, rel=0.01)


def test_ddim_with_eta_one_is_ancestral_sampling() -> None:
    """DDIM's η = 1 step is the posterior q(x_p ∣ x_t, x̂₀): the same draws give the same samples."""
    schedule = linear(100)
    model = GaussianEpsilon(schedule, [1.0], 0.3)
    draw = {
        "ancestral": AncestralSampler(AncestralConfig(steps=20)),
        "ddim": DDIMSampler(DDIMConfig(steps=20, eta=1.0)),
    }
    out = {
        k: s.sample(model, (500, 1), schedule=schedule, generator=torch.Generator().manual_seed(4))
        for k, s in draw.items()
    }
    assert torch.allclose(out["ancestral"], out["ddim"], atol=1e-5)


def test_sampling_is_reproducible_under_a_seed() -> None:
    schedule = linear(100)
    model = GaussianEpsilon(schedule, [0.0, 0.0], 1.0)
    sampler = AncestralSampler(AncestralConfig(clip_x0=1.0))

    def draw(seed: int) -> torch.Tensor:
        return sampler.sample(model, (64, 2), schedule=schedule, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))
    assert float(draw(0).abs().max()) <= 1.0 + 1e-6  # the last step returns the clipped x̂₀


def test_langevin_runs_on_an_epsilon_network_through_the_engine() -> None:
    """The engine hands Langevin (which wants a score) −ε/s; at t = 0 its target is p₀ ≈ the data."""
    schedule = linear()
    model = GaussianEpsilon(schedule, [1.0, -1.0], 0.5)
    sampler = LangevinSampler(LangevinConfig(step_size=0.01, num_steps=2000))
    x = sample_in_chunks(
        sampler,
        model,
        10000,
        (2,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=10000,
    )
    a, s = (float(v) for v in schedule.kernel(torch.tensor([0.0])))
    std0 = math.sqrt(a**2 * 0.25 + s**2)
    # Unadjusted Langevin with step η inflates the variance by ~η/4 relative to the target's.
    assert torch.allclose(x.mean(0), torch.tensor([a, -a]), atol=0.03)
    assert torch.allclose(x.std(0), torch.full((2,), std0), atol=0.03)


def test_conversion_needs_a_schedule_and_a_kernel_prediction() -> None:
    schedule = linear(10)
    model = GaussianEpsilon(schedule, [0.0], 1.0)
    with pytest.raises(ConfigError, match=r"without a noise kernel.*@ \$\.model\.prediction"):
        as_parametrization(model, "score", None)
    assert as_parametrization(model, "epsilon", None) is model
    view = as_parametrization(model, "score", schedule)
    assert isinstance(view, Reparametrized) and view.parametrization == "score"

    class Velocity(ScoreModel):
        parametrization = "velocity"

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(ConfigError, match="needs a model that predicts 'epsilon'; this one predicts 'velocity'"):
        as_parametrization(Velocity(), "epsilon", schedule)


def test_kernel_score_of_a_mixture() -> None:
    """p_t of x_t = a·x₀ + s·ε for a mixture is the mixture with means a·μ and std √(a²σ² + s²)."""
    from scorekit.evaluation import kernel_score

    density = GaussianMixture([[0.0, 1.0], [2.0, -1.0]], 0.4, [0.3, 0.7])
    a, s = 0.6, 0.5
    moved = GaussianMixture([[0.0, 0.6], [1.2, -0.6]], math.sqrt(0.36 * 0.16 + 0.25), [0.3, 0.7])
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0)).double()
    assert torch.allclose(kernel_score(density, x, a, s), moved.score(x), atol=1e-10)


def test_annealed_langevin_anneals_a_diffusion_schedule() -> None:
    """On DDPM's kernel annealed Langevin walks p_t down to p_0 and Tweedie-denoises to ≈ the data."""
    from scorekit_annealed_langevin.config import AnnealedLangevinConfig
    from scorekit_annealed_langevin.sampler import AnnealedLangevin

    schedule = linear()
    model = GaussianEpsilon(schedule, [1.0, -1.0], 0.5)
    sampler = AnnealedLangevin(AnnealedLangevinConfig(levels=30, steps_per_level=100, epsilon=1e-4))
    x = sample_in_chunks(
        sampler,
        model,
        5000,
        (2,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=5000,
    )
    assert torch.allclose(x.mean(0), torch.tensor([1.0, -1.0]), atol=0.05)
    assert torch.allclose(x.std(0), torch.full((2,), 0.5), atol=0.05)


# -- end to end ------------------------------------------------------------------------------------
def test_ddpm_preset_trains_samples_and_evaluates_through_the_cli(tmp_path: Path) -> None:
    """A tiny run of the ddpm preset: eval reports Fisher rows at ten levels t, sample writes (N, 2)."""
    import json

    import numpy as np
    from click.testing import CliRunner

    from scorekit.cli import cli
    from tests.conftest import preset_dict, write_toml

    raw = preset_dict("ddpm")
    raw["data"].update(num_train=1000, num_heldout=300)
    raw["model"].update(hidden=32, layers=2)
    raw["schedule"]["num_steps"] = 50
    raw["train"].update(steps=40, batch_size=64, log_every=20, checkpoint_every=40, progress=False)
    raw["sample"] = {"num": 100}
    raw["eval"] = {"num_samples": 200, "num_points": 200}
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(write_toml(tmp_path / "c.toml", raw)), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    levels = [row["t"] for row in report["fisher"]]
    assert len(levels) == 10 and levels[0] == 49 and levels[-1] == 0
    assert all(row["relative_fisher"] >= 0 for row in report["fisher"])
    # σ = s/a in data units grows with t.
    sigmas = [row["sigma"] for row in report["fisher"]]
    assert sigmas == sorted(sigmas, reverse=True)
    out = tmp_path / "x.npy"
    result = CliRunner().invoke(cli, ["sample", str(run_dir), "-n", "30", "-o", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    x = np.load(out)
    assert x.shape == (30, 2) and np.isfinite(x).all()
