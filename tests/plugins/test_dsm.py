"""dsm plugin: the σ schedules and the DSM / NCSN losses against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from scorekit.interfaces import ScoreModel
from scorekit_dsm.config import DSMLossConfig, GeometricScheduleConfig, NCSNLossConfig
from scorekit_dsm.losses import DSMLoss, NCSNLoss
from scorekit_dsm.schedules import GeometricSchedule


class GaussianScore(ScoreModel):
    """The exact score of N(0, c²I) convolved with N(0, σ²I): −x/(c² + σ²), times ``scale``."""

    def __init__(self, c: float, scale: float = 1.0) -> None:
        super().__init__()
        self.c2, self.scale = c * c, scale

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -self.scale * x / (self.c2 + t.to(x.dtype).reshape(-1, *[1] * (x.ndim - 1)) ** 2)


def test_geometric_schedule_levels() -> None:
    schedule = GeometricSchedule(GeometricScheduleConfig(sigma_max=10.0, sigma_min=0.01, num_levels=4))
    assert torch.allclose(schedule.levels(), torch.tensor([10.0, 1.0, 0.1, 0.01]), rtol=1e-6)
    a, s = schedule.kernel(schedule.levels())
    assert torch.equal(a, torch.ones(4)) and torch.equal(s, schedule.levels())


def test_log_uniform_training_levels_cover_the_range() -> None:
    config = GeometricScheduleConfig(sigma_max=10.0, sigma_min=0.01, num_levels=4, training="log_uniform")
    t = GeometricSchedule(config).sample_t(20000, generator=torch.Generator().manual_seed(0))
    assert float(t.min()) >= 0.01 and float(t.max()) <= 10.0
    # log σ is uniform on [log 0.01, log 10]: its mean is the midpoint, log 0.316.
    assert abs(float(t.log().mean()) - math.log(math.sqrt(0.1))) < 0.05


def test_continuous_training_gives_every_level_the_same_mass() -> None:
    # Levels 10, 1, 0.1, 0.01 (log-step log 10): log σ has density 1/(4h) inside and 2/(4h) within
    # half a step of either end, h = log 10, so each level holds a quarter of the draws within ±h/2.
    schedule = GeometricSchedule(GeometricScheduleConfig(sigma_max=10.0, sigma_min=0.01, num_levels=4))
    assert schedule.training == "continuous" and schedule.training_levels() is None
    t = schedule.sample_t(80000, generator=torch.Generator().manual_seed(0)).double()
    assert float(t.min()) >= 0.01 * (1 - 1e-6) and float(t.max()) <= 10.0 * (1 + 1e-6)
    h = math.log(10)
    edges = [math.log(0.01) + k * h / 2 for k in range(7)]  # half-steps from log 0.01 to log 10
    halves = torch.histc(t.log(), bins=6, min=edges[0], max=edges[-1]) / len(t)
    assert torch.allclose(halves, torch.tensor([2, 1, 1, 1, 1, 2], dtype=torch.float64) / 8, atol=0.006)
    levels = GeometricSchedule(GeometricScheduleConfig(sigma_max=10.0, sigma_min=0.01, num_levels=4, training="levels"))
    assert torch.equal(levels.training_levels(), levels.levels())  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(2,), (1, 3, 3)])
def test_ncsn_loss_of_the_exact_score_matches_closed_form(shape: tuple[int, ...]) -> None:
    """For x ~ N(0, c²I) and s = −x̃/(c²+σ²): ½E‖σs + ε‖² = ½·d·c²/(c²+σ²) at each σ (any event rank)."""
    c, n = 0.7, 200000
    schedule = GeometricSchedule(GeometricScheduleConfig(sigma_max=2.0, sigma_min=0.1, num_levels=5))
    generator = torch.Generator().manual_seed(0)
    x0 = c * torch.randn((n, *shape), generator=generator, dtype=torch.float64)
    value = NCSNLoss(NCSNLossConfig())(GaussianScore(c), x0, schedule=schedule, generator=generator)
    d = math.prod(shape)
    expected = sum(0.5 * d * c**2 / (c**2 + s**2) for s in schedule.levels().tolist()) / 5
    # The per-sample loss is ½·(χ²-like) with variance below d/2 + level spread; 5 standard errors.
    assert abs(float(value) - expected) < 5 * math.sqrt(d / n)


def test_exact_score_minimizes_the_ncsn_loss() -> None:
    c, n = 1.3, 100000
    schedule = GeometricSchedule(GeometricScheduleConfig(sigma_max=3.0, sigma_min=0.05, num_levels=6))
    x0 = c * torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    values = {
        scale: float(
            NCSNLoss(NCSNLossConfig())(
                GaussianScore(c, scale), x0, schedule=schedule, generator=torch.Generator().manual_seed(2)
            )
        )
        for scale in (0.8, 1.0, 1.2)
    }
    assert values[1.0] < values[0.8] and values[1.0] < values[1.2]


def test_single_sigma_dsm_matches_vincent_closed_form() -> None:
    """½E‖s(x̃) + (x̃−x)/σ²‖² for the exact score is ½·d·c²/(σ²(c²+σ²))."""
    c, sigma, n = 1.0, 0.5, 200000
    x0 = c * torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    value = DSMLoss(DSMLossConfig(sigma=sigma))(GaussianScore(c), x0, generator=torch.Generator().manual_seed(4))
    expected = 0.5 * 2 * c**2 / (sigma**2 * (c**2 + sigma**2))
    assert abs(float(value) - expected) < 5 * expected * math.sqrt(2 / n) * 2


def test_ncsn_loss_is_one_objective_for_an_epsilon_and_a_score_network() -> None:
    """λ = s² DSM is ½‖ε − ε̂‖² on an ε-network, and the same on its score view (VP kernel, a ≠ 1).

    Called directly, as from a notebook: the loss converts the network on the way in, as the engine does.
    """
    from scorekit.builtins.configs import TimeMLPConfig
    from scorekit.nets.time_mlp import TimeMLP
    from scorekit.parametrization import as_parametrization
    from scorekit_dsm.config import NCSNLossConfig
    from scorekit_dsm.losses import NCSNLoss
    from scorekit_sde.config import VPConfig
    from scorekit_sde.sde import VPSDE

    schedule = VPSDE(VPConfig())
    torch.manual_seed(0)
    model = TimeMLP(TimeMLPConfig(hidden=16, layers=2, time_scale=999.0))
    model.bind((3,))
    x0 = torch.randn(64, 3)
    loss = NCSNLoss(NCSNLossConfig())
    assert loss.parametrization == "epsilon"

    def value(m: ScoreModel) -> float:
        with torch.no_grad():
            return float(loss(m, x0, schedule=schedule, generator=torch.Generator().manual_seed(2)))

    g = torch.Generator().manual_seed(2)
    t = schedule.sample_t(64, generator=g)
    x_t, eps = schedule.perturb(x0, t, generator=g)
    with torch.no_grad():
        expected = float(0.5 * (eps - model(x_t, t)).square().sum(1).mean())
    assert value(model) == pytest.approx(expected, rel=1e-6)
    assert value(as_parametrization(model, "score", schedule)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", ["ism", "ssm"])
def test_clean_data_objectives_refuse_a_model_that_is_not_a_score(name: str) -> None:
    from scorekit import load_registry
    from scorekit.builtins.configs import TimeMLPConfig
    from scorekit.config import structure_as
    from scorekit.errors import ConfigError
    from scorekit.nets.time_mlp import TimeMLP
    from scorekit.parametrization import view_for

    loss = structure_as({"kind": name}, "loss", "$.loss", load_registry()).build()
    model = TimeMLP(TimeMLPConfig(hidden=8, layers=1))
    model.bind((2,))
    with pytest.raises(ConfigError, match=r"predicts 'epsilon'.*\$\.model\.prediction"):
        view_for(model, loss, None)
    with pytest.raises(ConfigError, match=r"predicts 'epsilon'"):  # a schedule in the run changes nothing at t = 0
        entry = load_registry().get("schedule", "geometric")
        view_for(model, loss, entry.build(entry.config()))
