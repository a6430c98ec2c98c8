"""The engine's check that a sampler's starting distribution fits the data (scorekit.engine.prior)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch

from scorekit._registry import Registry
from scorekit.config import load_config
from scorekit.engine.prior import PRIOR_KL_TOLERANCE, PriorMismatchWarning, prior_mismatch
from scorekit.engine.run import Run
from tests.conftest import small_config


def _component(registry: Registry, kind: str, table: dict) -> object:
    from scorekit.config import structure_as

    return structure_as(table, kind, "$", registry).build()


def _kl(mean: torch.Tensor, var: torch.Tensor, std: float) -> float:
    """KL(N(mean, diag var) ‖ N(0, std²I)) by its closed form, coordinate by coordinate."""
    r = var / std**2
    return float((0.5 * (r + mean.square() / std**2 - 1 - r.log())).sum())


def test_mismatch_is_the_kl_of_the_noisiest_marginal(registry: Registry) -> None:
    schedule = _component(registry, "schedule", {"kind": "ve", "sigma_max": 4.0})
    sampler = _component(registry, "sampler", {"kind": "reverse_sde"})
    g = torch.Generator().manual_seed(0)
    standardized = torch.randn(20000, 2, generator=g)
    assert prior_mismatch(sampler, schedule, standardized) is None
    shifted = standardized * 0.3 + torch.tensor([3.0, 3.0])
    message = prior_mismatch(sampler, schedule, shifted)
    assert message is not None
    a, s = (float(v) for v in schedule.kernel(schedule.levels()[:1].double()))
    std = math.hypot(a, s)
    expected = _kl(a * shifted.double().mean(0), a * a * shifted.double().var(0) + s * s, std)
    assert expected > PRIOR_KL_TOLERANCE
    assert f"KL {expected:.3g} nats over 2 coordinates" in message
    assert message.startswith(f"ReverseSDESampler starts from N(0, {std:.3g}²I)")
    assert "data.standardize" in message


def test_samplers_that_mix_their_start_are_not_checked(registry: Registry) -> None:
    schedule = _component(registry, "schedule", {"kind": "geometric", "sigma_max": 2.0})
    annealed = _component(registry, "sampler", {"kind": "annealed_langevin"})
    assert annealed.prior_std(schedule) is None
    assert prior_mismatch(annealed, schedule, torch.randn(100, 2) + 10) is None


def test_a_run_on_raw_data_warns_once_in_one_line(tmp_path: Path, registry: Registry) -> None:
    raw = small_config()
    raw["data"] = {
        "kind": "gaussian_mixture",
        "means": [[2.0, 2.0], [4.0, 4.0]],
        "weights": [0.2, 0.8],
        "num_train": 2000,
        "num_heldout": 100,
    }
    raw["schedule"] = {"kind": "ve", "sigma_max": 4.0}
    raw["sampler"] = {"kind": "reverse_sde", "steps": 5}
    raw["model"] = {"kind": "time_mlp", "hidden": 16, "layers": 1}
    raw["train"]["steps"] = 5
    run = Run(load_config(raw, registry), registry, tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.train()
        run.sample(4)
    mismatches = [w for w in caught if issubclass(w.category, PriorMismatchWarning)]
    assert len(mismatches) == 2  # when training starts, and before sampling
    assert "\n" not in str(mismatches[0].message)
    standardized = load_config({**raw, "data": {**raw["data"], "standardize": "scalar"}}, registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorMismatchWarning)
        Run(standardized, registry, tmp_path / "other").train()


def test_uniform_start_of_annealed_langevin_takes_a_scale(registry: Registry) -> None:
    from scorekit.testing import ReferenceScoreModel

    schedule = _component(registry, "schedule", {"kind": "geometric", "sigma_max": 2.0, "num_levels": 2})
    # ε tiny: the chain barely moves, so the samples show the start.
    table = {"kind": "annealed_langevin", "init": "uniform", "init_std": 5.0, "epsilon": 1e-12, "denoise": False}
    sampler = _component(registry, "sampler", {**table, "steps_per_level": 1})
    with torch.no_grad():
        x = sampler.sample(ReferenceScoreModel((2,)), (20000, 2), schedule=schedule, generator=torch.Generator())
    assert x.abs().max() <= 5.0 + 1e-3 and x.abs().max() > 4.9
    assert abs(float(x.var()) - 25 / 3) < 0.3  # the variance of U[−5, 5]
    with pytest.raises(Exception, match=r"@ \$\.init_std"):
        _component(registry, "sampler", {**table, "init_std": 0.0})
