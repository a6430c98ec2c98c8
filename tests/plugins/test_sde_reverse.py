"""Reverse-time sampling and probability-flow likelihoods on exact scores (Song et al. 2021).

With the exact score of a Gaussian mixture's marginals (``KernelScoreModel``) the probability-flow
likelihood must equal the closed-form log-density and the samplers must reproduce the mixture, so
what is measured is the samplers' and solvers' own error.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from scorekit import load_registry
from scorekit.config import structure_as
from scorekit.data.mixture import GaussianMixture, radial_mixture
from scorekit.errors import ConfigError
from scorekit.evaluation import KernelScoreModel, kernel_log_prob
from scorekit.interfaces import NoiseSchedule, Predictor, ScoreModel
from scorekit_sde.config import SubVPConfig, VEConfig, VPConfig
from scorekit_sde.reverse import KernelSDE, as_sde
from scorekit_sde.sde import VESDE, VPSDE, SubVPSDE

# Unit variance per coordinate (radius²/2 + std² = 1), as the run's standardization makes the data:
# the priors N(0, (a_T² + s_T²)I) then have p_T's variance.
DENSITY = radial_mixture(4, radius=math.sqrt(2 * (1 - 0.15**2)), std=0.15)
REGISTRY = load_registry()


def _build(kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    return structure_as({"kind": name, **(options or {})}, kind, f"$.{kind}", REGISTRY).build()


def _geometric() -> NoiseSchedule:
    return _build("schedule", "geometric", {"sigma_max": 5.0, "sigma_min": 0.02, "num_levels": 10})


SCHEDULES = {
    "vp": lambda: VPSDE(VPConfig(eps=1e-5)),
    "subvp": lambda: SubVPSDE(SubVPConfig(eps=1e-5)),
    "ve": lambda: VESDE(VEConfig(sigma_min=0.01, sigma_max=5.0)),
    "geometric": _geometric,
}


def _true_log_prob(schedule: NoiseSchedule, x: torch.Tensor) -> torch.Tensor:
    """log p_eps(x): the mixture under the kernel at the schedule's smallest time."""
    a, s = schedule.kernel(schedule.levels()[-1:].double())
    return kernel_log_prob(DENSITY, x, float(a), float(s))


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_probability_flow_likelihood_of_the_exact_score_is_the_true_density(name: str) -> None:
    """Exact trace, dopri5 at 1e-5, float64: per-point error ≤ 0.02 nats, mean ≤ 2e-3.

    The residual is the solver's tolerance and the prior: N(0, s_T²) (or (a_T² + s_T²)) for the
    true p_T, a mixture convolved with the widest kernel.
    """
    schedule = SCHEDULES[name]()
    likelihood = _build("likelihood", "probability_flow")
    x = DENSITY.sample(200, generator=torch.Generator().manual_seed(0)).double()
    log_p = likelihood.log_prob(KernelScoreModel(DENSITY, schedule).double(), x, schedule=schedule)
    error = log_p - _true_log_prob(schedule, x)
    assert float(error.abs().max()) < 0.02
    assert abs(float(error.mean())) < 2e-3


def test_hutchinson_likelihood_is_unbiased() -> None:
    """Hutchinson's probes (fixed per solve) give an estimate whose mean over points matches the exact value."""
    schedule = VPSDE(VPConfig(eps=1e-5))
    model = KernelScoreModel(DENSITY, schedule).double()
    x = DENSITY.sample(400, generator=torch.Generator().manual_seed(0)).double()
    exact = _build("likelihood", "probability_flow").log_prob(model, x, schedule=schedule)
    hutchinson = _build(
        "likelihood", "probability_flow", {"estimator": {"kind": "hutchinson", "fixed_probe": True}}
    ).log_prob(model, x, schedule=schedule, generator=torch.Generator().manual_seed(1))
    difference = hutchinson - exact
    assert float(difference.abs().max()) > 1e-3  # an estimate, not the exact trace
    assert abs(float(difference.mean())) < 5 * float(difference.std()) / math.sqrt(len(x))


def _check_samples(x: torch.Tensor, density: GaussianMixture, *, blur: float = 0.0) -> None:
    """Mode weights within 5 standard errors; the spread about the modes within 5% of std² + blur²."""
    n = x.shape[0]
    weights = density.mode_weights(x)
    se = math.sqrt(0.25 * 0.75 / n)
    assert float((weights - 0.25).abs().max()) < 5 * se, weights
    means = density.means.to(x.dtype)[density.assign(x)]
    spread = float((x - means).square().mean())
    assert spread == pytest.approx(density.std**2 + blur**2, rel=0.05)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("vp", {"steps": 500}),
        ("ve", {"steps": 500, "predictor": "heun"}),
        ("geometric", {"steps": 200, "corrector_steps": 1}),
        ("subvp", {"steps": 200, "corrector_steps": 1, "corrector": {"kind": "langevin", "snr": 0.1}}),
    ],
)
def test_reverse_sde_samples_the_mixture(name: str, options: dict[str, Any]) -> None:
    schedule = SCHEDULES[name]()
    sampler = _build("sampler", "reverse_sde", options)
    x = sampler.sample(
        KernelScoreModel(DENSITY, schedule), (8000, 2), schedule=schedule, generator=torch.Generator().manual_seed(0)
    )
    _check_samples(x, DENSITY)


def test_reverse_sde_without_denoising_ends_at_the_blurred_marginal() -> None:
    """With ``denoise = false`` the samples are of p_eps: σ_min = 0.1 of blur on the components."""
    schedule = _build("schedule", "geometric", {"sigma_max": 5.0, "sigma_min": 0.1, "num_levels": 10})
    sampler = _build("sampler", "reverse_sde", {"steps": 500, "denoise": False})
    model = KernelScoreModel(DENSITY, schedule)
    x = sampler.sample(model, (8000, 2), schedule=schedule, generator=torch.Generator().manual_seed(0))
    _check_samples(x, DENSITY, blur=0.1)


def test_probability_flow_samples_the_mixture() -> None:
    schedule = VPSDE(VPConfig(eps=1e-5))
    sampler = _build("sampler", "probability_flow")
    x = sampler.sample(
        KernelScoreModel(DENSITY, schedule).double(),
        (4000, 2),
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    _check_samples(x, DENSITY)
    assert sampler.solver.nfe > 0


@pytest.mark.parametrize(
    "sde", [VPSDE(VPConfig()), SubVPSDE(SubVPConfig()), VESDE(VEConfig())], ids=["vp", "subvp", "ve"]
)
def test_kernel_sde_recovers_the_closed_form_coefficients(sde: VPSDE) -> None:
    """f = d log a/dt and g² = ds²/dt − 2f·s², differentiated from the kernel, equal each SDE's own f and g."""
    wrapped = KernelSDE(sde)
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    x = torch.ones(7, 2, dtype=torch.float64)
    assert torch.allclose(wrapped.drift(x, t), sde.drift(x, t), rtol=1e-6, atol=1e-9)
    assert torch.allclose(wrapped.diffusion(t), sde.diffusion(t).double(), rtol=1e-6)


def test_sigma_schedule_is_the_ve_sde_in_sigma_time() -> None:
    sde = as_sde(_geometric())
    sigma = torch.tensor([0.1, 1.0, 4.0], dtype=torch.float64)
    assert torch.equal(sde.drift(torch.ones(3, 2, dtype=torch.float64), sigma), torch.zeros(3, 2, dtype=torch.float64))
    assert torch.allclose(sde.diffusion(sigma), (2 * sigma).sqrt())
    grid = sde.grid(4)
    assert float(grid[0]) == pytest.approx(5.0) and float(grid[-1]) == pytest.approx(0.02)
    assert torch.allclose(grid[1:] / grid[:-1], torch.full((4,), (0.02 / 5.0) ** 0.25, dtype=torch.float64))


def test_discrete_schedules_are_refused_at_setup() -> None:
    schedule = _build("schedule", "cosine", {"num_steps": 50})
    for kind, name in (("sampler", "reverse_sde"), ("sampler", "probability_flow"), ("likelihood", "probability_flow")):
        with pytest.raises(ConfigError, match=r"discrete.*'vp'"):
            _build(kind, name).check(schedule)
        with pytest.raises(ConfigError, match=r"\$.schedule"):
            _build(kind, name).check(None)


class _GaussianScore(ScoreModel):
    """The exact score of N(0, I) data under the kernel: −x/(a² + s²)."""

    def __init__(self, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.schedule = schedule
        self.bind((2,))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self.schedule.kernel(t)
        return -x / (a.square() + s.square()).to(x.dtype)[:, None]


class _ThirdOrderDrift(Predictor):
    """An outside predictor: Euler–Maruyama on the mean of three drift evaluations (the same drift, three calls)."""

    evaluations = 3

    def __init__(self, config: object) -> None:
        pass

    def step(self, sde: Any, x: torch.Tensor, t: float, t_next: float, dw: torch.Tensor) -> torch.Tensor:
        times = x.new_full((x.shape[0],), t)
        drift = sum(sde.drift(x, times) for _ in range(3)) / 3
        return x + drift * (t_next - t) + sde.diffusion(times)[:, None] * dw


def test_a_plugin_predictor_composes_with_reverse_sde_by_name() -> None:
    """Registered from a plugin of its own and named in the config: reverse_sde runs it and counts its evaluations;
    on one noise path it gives Euler–Maruyama's samples (its drift is the same)."""
    import types

    import attrs

    from scorekit import hookimpl
    from scorekit.engine.sampling import SamplingStats, sample_in_chunks
    from tests.conftest import installed_entry_points
    from tests.core.test_registry import FakeEntryPoint

    @attrs.frozen
    class NoOptions:
        pass

    plugin = types.ModuleType("thirds")

    @hookimpl
    def scorekit_register_components(register: Any) -> None:
        register("predictor", "thirds", factory=_ThirdOrderDrift, config=NoOptions)

    plugin.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    registry = load_registry(
        [*installed_entry_points("core", "dsm", "sde"), FakeEntryPoint("thirds", plugin, "scorekit-thirds")]
    )
    assert not registry.failures and registry.names("predictor") == ["euler_maruyama", "heun", "thirds"]
    schedule = structure_as({"kind": "vp", "num_levels": 50}, "schedule", "$.schedule", registry).build()
    draws = {}
    for predictor in ("thirds", "euler_maruyama"):
        table = {"kind": "reverse_sde", "steps": 20, "predictor": predictor, "denoise": False}
        sampler = structure_as(table, "sampler", "$.sampler", registry).build()
        stats = SamplingStats()
        draws[predictor] = sample_in_chunks(
            sampler,
            _GaussianScore(schedule),
            64,
            (2,),
            schedule=schedule,
            generator=torch.Generator().manual_seed(0),
            device=torch.device("cpu"),
            chunk_size=64,
            stats=stats,
        )
        per_step = 3 if predictor == "thirds" else 1
        assert stats.nfe == sampler.num_evaluations(schedule) == 20 * per_step
    torch.testing.assert_close(draws["thirds"], draws["euler_maruyama"], rtol=1e-5, atol=1e-6)
