"""Starting points: a given x_T, SDEdit from x_t at a level t, and encoding x into x_T (Sampler.encode)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from scorekit import Start
from scorekit._registry import Registry
from scorekit.data.mixture import GaussianMixture, eight_gaussians
from scorekit.engine.sampling import sample_in_chunks
from scorekit.errors import ConfigError, UserError
from scorekit.evaluation import KernelScoreModel
from scorekit.grids import start_grid
from scorekit.interfaces import Sampler

# eight_gaussians scaled to unit size, so that VP kernels suit it.
DENSITY = GaussianMixture(eight_gaussians().means / 4, 0.3 / 4)


def _build(registry: Registry, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


def _data(n: int, seed: int = 0) -> torch.Tensor:
    return DENSITY.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_probability_flow_encode_then_decode_is_the_identity(registry: Registry) -> None:
    vp = _build(registry, "schedule", "vp")
    solver = {"kind": "dopri5", "rtol": 1e-6, "atol": 1e-6}
    sampler = _build(registry, "sampler", "probability_flow", denoise=False, solver=solver)
    model = KernelScoreModel(DENSITY, vp)
    x = _data(200)
    z = sampler.encode(model, x, schedule=vp)
    assert abs(float(z.std()) - 1.0) < 0.1  # the prior N(0, I) of the VP SDE (std of 400 numbers: ±0.035)
    back = sampler.sample(model, tuple(x.shape), schedule=vp, dtype=torch.float64, start=Start(z))
    assert float((back - x).abs().max()) < 1e-3  # measured 3.7e-5 at tolerance 1e-6


def test_ddim_inversion_reconstructs_within_its_discretization(registry: Registry) -> None:
    linear = _build(registry, "schedule", "linear")
    model = KernelScoreModel(DENSITY, linear)
    x = _data(200)
    errors = []
    for steps in (50, 200):
        sampler = _build(registry, "sampler", "ddim", steps=steps)
        z = sampler.encode(model, x, schedule=linear)
        back = sampler.sample(model, tuple(x.shape), schedule=linear, dtype=torch.float64, start=Start(z))
        errors.append(float((back - x).abs().median()))
    assert errors[1] < 0.02 and errors[1] < errors[0]  # measured 0.0063 at 200 steps
    with pytest.raises(ConfigError, match="cannot encode"):
        _build(registry, "sampler", "ddim", eta=1.0).encode(model, x, schedule=linear)
    with pytest.raises(ConfigError, match="probability_flow and ddim with eta = 0 can"):
        _build(registry, "sampler", "ddpm").encode(model, x, schedule=linear)


def test_sdedit_from_t_keeps_the_mode_as_often_as_the_posterior_says(registry: Registry) -> None:
    """With the exact score the reverse SDE from x_t draws x₀ ~ p(x₀ ∣ x_t), so it stays in x₀'s mode
    with probability E[r_k(x_t)], the kernel-noised mixture's responsibility of that mode."""
    vp = _build(registry, "schedule", "vp")
    sampler = _build(registry, "sampler", "reverse_sde", steps=500)
    model = KernelScoreModel(DENSITY, vp)
    n = 600
    x0 = _data(n, seed=1)
    g = torch.Generator().manual_seed(2)
    for t in (0.05, 0.1):
        x_t, _ = vp.perturb(x0, torch.full((n,), t, dtype=torch.float64), generator=g)
        out = sampler.sample(model, (n, 2), schedule=vp, dtype=torch.float64, start=Start(x_t, t), generator=g)
        same = (DENSITY.assign(out) == DENSITY.assign(x0)).double()
        a, s = (float(v) for v in vp.kernel(torch.tensor([t], dtype=torch.float64)))
        noisy = GaussianMixture(DENSITY.means * a, math.hypot(DENSITY.std * a, s))
        expected = torch.softmax(noisy._component_log_joint(x_t, torch.tensor(noisy.std**2)), dim=1)
        p = float(expected[torch.arange(n), DENSITY.assign(x0)].mean())
        assert abs(float(same.mean()) - p) < 6 * math.sqrt(p * (1 - p) / n) + 0.02, (t, float(same.mean()), p)


@pytest.mark.parametrize(
    ("schedule_kind", "sampler_kind", "values", "t"),
    [
        ("geometric", "annealed_langevin", {"steps_per_level": 20, "epsilon": 5e-4}, 1.0),
        ("linear", "ddpm", {"steps": 100}, 300.0),
        ("linear", "ddim", {"steps": 50}, 300.0),
        ("vp", "probability_flow", {}, 0.3),
    ],
)
def test_every_builtin_sampler_starts_part_way(
    registry: Registry, schedule_kind: str, sampler_kind: str, values: dict[str, Any], t: float
) -> None:
    schedule = _build(registry, "schedule", schedule_kind)
    sampler = _build(registry, "sampler", sampler_kind, **values)
    model = (
        KernelScoreModel(eight_gaussians(), schedule)
        if schedule_kind == "geometric"
        else KernelScoreModel(DENSITY, schedule)
    )
    density = model.density
    x0 = density.sample(300, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    x_t, _ = schedule.perturb(x0, torch.full((300,), t, dtype=torch.float64), generator=g)
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    out = sampler.sample(model, (300, 2), schedule=schedule, dtype=torch.float64, start=Start(x_t, t), generator=g)
    handle.remove()
    assert len(calls) < (sampler.num_evaluations(schedule) or 10**9)  # walked only the part below t
    weights = density.mode_weights(out)
    assert float((weights - 1 / 8).abs().max()) < 0.06  # the data's distribution, from a start at t


def test_start_grid() -> None:
    class Discrete:
        continuous = False

        def levels(self) -> torch.Tensor:
            return torch.arange(9, -1, -1, dtype=torch.float64)

    grid = torch.tensor([9.0, 6.0, 3.0, 0.0], dtype=torch.float64)
    assert start_grid(grid, 6.0, Discrete()).tolist() == [6.0, 3.0, 0.0]  # type: ignore[arg-type]
    assert start_grid(grid, 5.0, Discrete()).tolist() == [5.0, 3.0, 0.0]  # type: ignore[arg-type]
    with pytest.raises(UserError, match="defined only at its levels"):
        start_grid(grid, 5.5, Discrete())  # type: ignore[arg-type]
    for bad in (0.0, 9.5, math.nan):
        with pytest.raises(UserError, match="must lie in this sampler's range"):
            start_grid(grid, bad, Discrete())  # type: ignore[arg-type]


class _OwnStart(Sampler):
    needs_schedule = False

    def sample(
        self,
        model: Any,
        shape: Any,
        *,
        schedule: Any,
        generator: Any = None,
        device: Any = "cpu",
        dtype: Any = torch.float32,
    ) -> torch.Tensor:
        return torch.zeros(shape, dtype=dtype)


def test_engine_refuses_a_start_it_cannot_use(registry: Registry) -> None:
    model = KernelScoreModel(DENSITY, _build(registry, "schedule", "vp"))
    common: dict[str, Any] = {
        "schedule": None,
        "generator": torch.Generator(),
        "device": torch.device("cpu"),
        "chunk_size": 10,
    }
    with pytest.raises(UserError, match="the sampler _OwnStart takes no starting point"):
        sample_in_chunks(_OwnStart(), model, 4, (2,), start=Start(torch.zeros(4, 2)), **common)
    langevin = _build(registry, "sampler", "langevin", num_steps=2)
    with pytest.raises(UserError, match=r"the starting points have shape \(3, 2\); this sampling needs \(4, 2\)"):
        sample_in_chunks(langevin, model, 4, (2,), start=Start(torch.zeros(3, 2)), **common)
    with pytest.raises(UserError, match="NaN or infinite"):
        sample_in_chunks(langevin, model, 4, (2,), start=Start(torch.full((4, 2), math.nan)), **common)
    with pytest.raises(UserError, match="one noise level"):
        sample_in_chunks(langevin, model, 4, (2,), start=Start(torch.zeros(4, 2), 0.5), **common)


def test_run_encode_sample_and_edit(tmp_path: Path) -> None:
    """A trained run: encode with DDIM inversion and decode back; SDEdit at a small t stays close."""
    import scorekit
    from scorekit.cli import main
    from tests.conftest import small_config, write_toml

    raw = small_config(train={"steps": 300, "checkpoint_every": 300, "batch_size": 256})
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(tmp_path / "c.toml", raw)), "--run-dir", str(tmp_path / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    overrides = ["sampler.kind='ddim'", "sampler.steps=100", "sampler.grid='logsnr'"]
    run = scorekit.load(tmp_path / "run", overrides=overrides)
    x = run.data.heldout[:200]  # standardize = "none": data space is model space
    z = run.encode(x)
    back = run.sample(200, start=z)
    # Measured 0.082 (the exact score gives 0.022 on this grid; two independent points of the data lie ~4 apart).
    assert float((back - x).norm(dim=1).median()) < 0.2
    near = run.edit(x, 0.1)  # σ = 0.1 of modes 0.3 wide: the edit stays by its input
    assert float((near - x).norm(dim=1).median()) < 0.3
    with pytest.raises(ConfigError, match="cannot encode"):
        scorekit.load(tmp_path / "run").encode(x)
    with pytest.raises(UserError, match="t_start needs a start"):
        run.sample(5, t_start=1.0)
