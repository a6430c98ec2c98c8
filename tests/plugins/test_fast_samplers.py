"""Few-step samplers (plugin fast_samplers): orders of convergence on the exact-score ODE, the contracts,
quality in few evaluations on every kind of kernel."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from scorekit import Start
from scorekit._registry import Registry
from scorekit.data.mixture import GaussianMixture, eight_gaussians
from scorekit.evaluation import KernelScoreModel
from scorekit.testing import check_conditioning, check_sampler

# eight_gaussians scaled to unit size for the VP and DDPM kernels.
SMALL = GaussianMixture(eight_gaussians().means / 4, 0.3 / 4)


def _build(registry: Registry, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


def _setting(registry: Registry, schedule_kind: str) -> tuple[Any, KernelScoreModel, torch.Tensor]:
    schedule = _build(registry, "schedule", schedule_kind)
    density = eight_gaussians() if schedule_kind == "geometric" else SMALL
    model = KernelScoreModel(density, schedule)
    prior = _build(registry, "sampler", "karras_heun").prior_std(schedule)
    x_start = prior * torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return schedule, model, x_start


@pytest.mark.parametrize("schedule_kind", ["vp", "geometric"])
def test_observed_orders_match_the_claimed_ones(registry: Registry, schedule_kind: str) -> None:
    """Pathwise error at the grid's end against a 2,000-step Heun solve from the same x_T (exact scores):
    halving the step must divide it by 2^order, within ±0.3 in the order (measured 40 → 80 steps:
    Euler 1.02–1.03, Heun 2.03–2.13, DPM-Solver++ 1: 1.02–1.03, 2M: 1.97–2.03, 3M: 2.74–2.98)."""
    schedule, model, x_start = _setting(registry, schedule_kind)
    reference = _build(registry, "sampler", "karras_heun", steps=2000, denoise=False).sample(
        model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start)
    )
    for name, extra, claimed in [
        ("karras_euler", {}, 1),
        ("karras_heun", {}, 2),
        ("dpmpp", {"order": 1}, 1),
        ("dpmpp", {"order": 2}, 2),
        ("dpmpp", {"order": 3}, 3),
    ]:
        errors = []
        for steps in (40, 80):
            sampler = _build(registry, "sampler", name, steps=steps, denoise=False, grid="karras", **extra)
            x = sampler.sample(model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start))
            errors.append(float((x - reference).norm(dim=1).mean()))
        observed = math.log2(errors[0] / errors[1])
        assert abs(observed - claimed) <= 0.3, (name, extra, errors, observed)


def test_dpm_solver_order_1_is_euler_in_sigma(registry: Registry) -> None:
    """DDIM (DPM-Solver++ of order 1) and the Euler step in σ are the same update, algebraically."""
    schedule, model, x_start = _setting(registry, "vp")
    outputs = [
        _build(registry, "sampler", name, steps=12, **extra).sample(
            model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start)
        )
        for name, extra in [("karras_euler", {}), ("dpmpp", {"order": 1, "grid": "karras"})]
    ]
    assert torch.allclose(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("schedule_kind", ["vp", "geometric", "linear", "subvp"])
def test_few_evaluations_reach_the_mixture_on_every_kernel(registry: Registry, schedule_kind: str) -> None:
    """DPM-Solver++(2M) at 20 steps (21 evaluations) and Heun at 20 (41): mode weights within 0.063 of 1/8
    for 1,000 samples from the prior (6 standard errors of a 1,000-draw share), and the median distance
    to the nearest mode within 15% of an exact draw's, std·√(2 ln 2) = 1.177·std (measured 1.13–1.19;
    Heun at 10 steps, 21 evaluations, gives 1.59–2.38 on the VP kernels)."""
    schedule = _build(registry, "schedule", schedule_kind)
    density = eight_gaussians() if schedule_kind == "geometric" else SMALL
    model = KernelScoreModel(density, schedule)
    for name, steps in [("dpmpp", 20), ("karras_heun", 20), ("unipc", 20)]:
        sampler = _build(registry, "sampler", name, steps=steps)
        x = sampler.sample(
            model, (1000, 2), schedule=schedule, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
        )
        weights = density.mode_weights(x)
        assert float((weights - 1 / 8).abs().max()) < 0.063, (name, weights)
        near = (x[:, None, :] - density.means[None]).norm(dim=-1).min(dim=1).values
        ratio = float(near.median()) / density.std
        assert abs(ratio / math.sqrt(2 * math.log(2)) - 1) < 0.15, (name, ratio)


def test_stochastic_sampler(registry: Registry) -> None:
    """S_churn = 0 is Heun exactly; with churn the samples still follow the mixture."""
    schedule, model, x_start = _setting(registry, "geometric")
    heun = _build(registry, "sampler", "karras_heun", steps=16)
    still = _build(registry, "sampler", "karras_stochastic", steps=16, s_churn=0.0)
    a = heun.sample(model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start))
    b = still.sample(model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start))
    assert torch.equal(a, b)
    churned = _build(registry, "sampler", "karras_stochastic", steps=32, s_churn=40.0, s_tmax=50.0)
    x = churned.sample(
        model, (1000, 2), schedule=schedule, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    weights = eight_gaussians().mode_weights(x)
    assert float((weights - 1 / 8).abs().max()) < 0.063, weights


@pytest.mark.parametrize("name", ["karras_euler", "karras_heun", "karras_stochastic", "dpmpp", "unipc"])
def test_contracts(registry: Registry, name: str) -> None:
    sampler = _build(registry, "sampler", name, steps=4)
    for schedule_kind in ("geometric", "vp", "linear"):
        schedule = _build(registry, "schedule", schedule_kind)
        check_sampler(sampler, schedule=schedule)
        check_conditioning(sampler, schedule=schedule)


def test_runs_through_the_cli(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The default preset's run sampled with DPM-Solver++ in 21 evaluations instead of 1,001."""
    from tests.conftest import small_config, write_toml
    from tests.core.test_cli import run_cli

    config = write_toml(tmp_path / "c.toml", small_config(train={"steps": 30, "checkpoint_every": 30}))
    assert run_cli(["train", config, "--run-dir", tmp_path / "run", "--no-pictures"], capsys)[0] == 0
    args = ["sample", tmp_path / "run", "-n", "50", "-o", tmp_path / "x.npy", "--set", "sampler.kind='dpmpp'"]
    code, out, err = run_cli([*args, "--set", "sampler.steps=20"], capsys)
    assert code == 0, err
    assert "(21 model evaluations per sample)" in out


def test_unipc_converges_faster_than_its_predictor_order(registry: Registry) -> None:
    """UniPC's corrector raises the order of its predictor: from 40 to 80 steps the pathwise error of the
    order-2 predictor falls by more than 2² (measured 2^2.43 on the VP kernel, 2^2.98 on the σ schedule;
    diffusers' UniPCMultistepScheduler gives the same paths to 1e-6 on a grid both can take)."""
    for schedule_kind in ("vp", "geometric"):
        schedule, model, x_start = _setting(registry, schedule_kind)
        reference = _build(registry, "sampler", "karras_heun", steps=2000, denoise=False).sample(
            model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start)
        )
        errors = []
        for steps in (40, 80):
            sampler = _build(registry, "sampler", "unipc", steps=steps, denoise=False, grid="karras")
            x = sampler.sample(model, (256, 2), schedule=schedule, dtype=torch.float64, start=Start(x_start))
            errors.append(float((x - reference).norm(dim=1).mean()))
        assert math.log2(errors[0] / errors[1]) > 2.2, (schedule_kind, errors)


@pytest.mark.parametrize("name", ["karras_euler", "karras_heun", "karras_stochastic", "dpmpp", "unipc"])
def test_clip_x0_clamps_every_denoised_estimate(registry: Registry, name: str) -> None:
    """An x₀-model whose estimate is 5 everywhere: clamped to 1, every step's D is 1, so the walk ends at
    x̃ = 1 exactly; unclamped it ends at 5."""

    class Constant(torch.nn.Module):
        parametrization = "x0"
        event_shape = (2,)

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return torch.full_like(x, 5.0)

    schedule = _build(registry, "schedule", "cosine")
    for clip, expected in [(1.0, 1.0), (None, 5.0)]:
        sampler = _build(registry, "sampler", name, steps=6, grid="levels", clip_x0=clip)
        x = sampler.sample(Constant(), (3, 2), schedule=schedule, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(x, torch.full_like(x, expected), atol=1e-5), (name, clip)
