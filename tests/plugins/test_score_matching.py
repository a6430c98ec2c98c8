"""Implicit and sliced score matching against closed forms, and trained end to end at σ = 0."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from scorekit._registry import Registry
from scorekit.cli import main
from scorekit.config import apply_overrides, load_config
from scorekit.interfaces import ScoreModel
from tests.conftest import small_config, write_toml


class LinearScore(ScoreModel):
    """s(x) = −a·x: the exact score of N(0, I/a); ``a`` is a parameter."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -self.a * x


def _loss(registry: Registry, kind: str, **options: object) -> object:
    raw = apply_overrides(small_config(), [f"loss.kind={kind}", *(f"loss.{k}={v}" for k, v in options.items())])
    config = load_config(raw, registry)
    return registry.get("loss", kind).build(config.loss.config)


def _value(loss: object, a: float, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return loss(LinearScore(a), x, schedule=None, generator=torch.Generator().manual_seed(seed)).detach()  # type: ignore[operator]


@pytest.fixture(scope="module")
def data() -> torch.Tensor:
    """x ~ N(0, c²I) in d = 3 dimensions, c = 0.8."""
    return 0.8 * torch.randn(40000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_ism_matches_its_closed_form_and_is_minimized_by_the_true_score(registry: Registry, data: torch.Tensor) -> None:
    """For s = −a·x and x ~ N(0, c²I_d): J(a) = ½a²·d·c² − a·d, minimized at a = 1/c²."""
    loss = _loss(registry, "ism")
    d, c2 = 3, 0.64
    for a in (0.5, 1 / c2, 3.0):
        expected = 0.5 * a**2 * d * c2 - a * d
        # ½a²‖x‖² has standard deviation ½a²·c²·√(2d); 5 standard errors of the mean.
        assert abs(float(_value(loss, a, data)) - expected) < 5 * 0.5 * a**2 * c2 * math.sqrt(2 * d / len(data))
    grid = [0.8 / c2, 1 / c2, 1.2 / c2]
    values = [float(_value(loss, a, data)) for a in grid]
    assert values[1] < values[0] and values[1] < values[2]


@pytest.mark.parametrize("kind", ["ssm", "ssm_vr"])
def test_sliced_objectives_estimate_the_implicit_one(registry: Registry, data: torch.Tensor, kind: str) -> None:
    """E_v[vᵀ(∇s)v] = tr ∇s and E_v[(vᵀs)²] = ‖s‖², so SSM and SSM-VR are unbiased for ISM's J."""
    ism, sliced = _loss(registry, "ism"), _loss(registry, kind, projections=2)
    for a in (0.5, 2.0):
        exact = float(_value(ism, a, data))
        # vᵀ(−aI)v = −a·d exactly for Rademacher v; (vᵀs)² has variance ≤ 2a⁴‖x‖⁴: bound by 5 SE.
        tolerance = 5 * a**2 * 0.64 * math.sqrt(2 * 3 / len(data)) * 2
        assert abs(float(_value(sliced, a, data, seed=1)) - exact) < tolerance


def test_gradients_reach_the_parameters(registry: Registry, data: torch.Tensor) -> None:
    """dJ/da = a·d·c² − d: the loss's gradient drives a to 1/c²."""
    for kind in ("ism", "ssm", "ssm_vr"):
        model = LinearScore(1.0)
        value = _loss(registry, kind)(model, data, schedule=None, generator=torch.Generator().manual_seed(2))  # type: ignore[operator]
        value.backward()
        assert model.a.grad is not None
        assert float(model.a.grad) == pytest.approx(1.0 * 3 * 0.64 - 3, abs=0.05), kind


def test_exact_estimator_has_no_probes_for_sliced_matching(registry: Registry) -> None:
    from scorekit.errors import ConfigError

    loss = _loss(registry, "ssm", **{"estimator.kind": "exact"})
    with pytest.raises(ConfigError, match="draws no random probes"):
        loss.check(None)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["ism", "ssm_vr"])
def test_trained_at_sigma_zero_and_evaluated_against_the_true_score(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = small_config(
        data={"kind": "standard_normal", "dim": 2},
        model={"kind": "score_mlp", "hidden": 32, "layers": 2},
        loss={"kind": kind},
        sampler={"kind": "langevin", "step_size": 0.05, "num_steps": 200},
        train={"steps": 400, "lr": 3e-3},
    )
    for key in ("num_modes", "radius", "std", "standardize"):
        raw["data"].pop(key, None)
    raw["model"] = {"kind": "score_mlp", "hidden": 32, "layers": 2}
    raw["sampler"] = {"kind": "langevin", "step_size": 0.05, "num_steps": 200}
    del raw["schedule"]
    config = write_toml(tmp_path / "c.toml", raw)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config), "--run-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["eval", str(tmp_path / "run"), "--json"])
    result = json.loads(capsys.readouterr().out)
    (row,) = result["fisher"]
    assert row["sigma"] == 0.0
    # The true score −x of N(0, I) is a linear function an MLP learns in a few hundred steps.
    assert row["relative_fisher"] < 0.05, row
