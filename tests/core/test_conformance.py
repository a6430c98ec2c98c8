"""The conformance kit (scorekit.testing) against every built-in component, and against broken ones."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from scorekit import Loss, NoiseSchedule, Sampler, ScoreModel
from scorekit._registry import Registry
from scorekit.testing import (
    ReferenceScoreModel,
    check_config_round_trip,
    check_device,
    check_loss,
    check_sampler,
    check_schedule,
    check_trace_estimator,
)

#: A short geometric schedule: few levels keep the annealed samplers fast.
GEOMETRIC = {"sigma_max": 2.0, "sigma_min": 0.05, "num_levels": 5}

# (name, options, stochastic)
LOSSES = [
    ("dsm", {"sigma": 0.5}, True),
    ("ncsn", {"weight_power": 2.0}, True),
    ("ism", {}, False),
    ("ism", {"estimator": {"kind": "hutchinson", "probes": 2}}, True),
    ("ssm", {"projections": 2}, True),
    ("ssm_vr", {"estimator": {"kind": "hutchinson", "distribution": "gaussian"}}, True),
    ("cnf", {"solver": {"kind": "rk4", "steps": 2}}, True),
    ("ddpm", {}, True),
    ("cnf", {"solver": {"kind": "dopri5", "rtol": 1e-4, "atol": 1e-4}, "estimator": {"kind": "exact"}}, False),
    (
        "cnf",
        {"solver": {"kind": "adjoint", "solver": {"kind": "euler", "steps": 2}}, "estimator": {"kind": "exact"}},
        False,
    ),
]
SAMPLERS = [
    ("langevin", {"num_steps": 5, "step_size": 0.01}),
    ("annealed_langevin", {"steps_per_level": 2}),
    # η = ε/σ_L² = 1 lies inside σ_L²(1 ∓ 1/γ) for GEOMETRIC.
    ("consistent_annealed", {"epsilon": 2.5e-3}),
    ("cnf", {"solver": {"kind": "rk4", "steps": 3}}),
    # The kernel samplers on the σ schedule: NCSN's ancestral sampler and DDIM for a = 1.
    ("ddpm", {}),
    ("ddpm", {"variance": "beta", "steps": 3, "clip_x0": 1.0}),
    ("ddim", {"steps": 3, "eta": 0.5}),
    # The SDE samplers on the σ schedule's SDE (a = 1, g² = 2σ).
    ("reverse_sde", {"steps": 3, "corrector_steps": 1}),
    ("reverse_sde", {"steps": 3, "predictor": "heun", "denoise": False}),
    ("probability_flow", {"solver": {"kind": "rk4", "steps": 3}, "denoise": True}),
]
SCHEDULES = [
    ("geometric", GEOMETRIC),
    ("geometric", {**GEOMETRIC, "training": "log_uniform"}),
    ("sigmas", {"sigmas": [1.0, 0.5, 0.1]}),
    ("linear", {"num_steps": 50}),
    ("cosine", {"num_steps": 50}),
    ("betas", {"betas": [0.01, 0.05, 0.2, 0.5]}),
    ("ve", {"num_levels": 20}),
    ("vp", {"num_levels": 20}),
    ("subvp", {"num_levels": 20}),
    ("ou", {"num_levels": 20}),
]
TRACE_ESTIMATORS = [
    ("exact", {"vjps_per_pass": 2}, True),
    ("hutchinson", {"probes": 2}, False),
    ("hutchinson", {"distribution": "gaussian"}, False),
]


@pytest.fixture(scope="module")
def real_registry() -> Registry:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SCOREKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        mp.delenv("SCOREKIT_BLOCK_PLUGINS", raising=False)
        from scorekit import load_registry

        return load_registry()


@pytest.fixture(scope="module")
def geometric(real_registry: Registry) -> NoiseSchedule:
    return check_config_round_trip(real_registry, "schedule", "geometric", GEOMETRIC)


@pytest.mark.parametrize(("name", "options", "stochastic"), LOSSES)
def test_builtin_losses_conform(
    real_registry: Registry, geometric: NoiseSchedule, name: str, options: dict[str, Any], stochastic: bool
) -> None:
    loss = check_config_round_trip(real_registry, "loss", name, options)
    schedule = geometric if loss.needs_schedule else None
    assert check_loss(loss, schedule=schedule) is stochastic


@pytest.mark.parametrize(("name", "options"), SAMPLERS)
def test_builtin_samplers_conform(
    real_registry: Registry, geometric: NoiseSchedule, name: str, options: dict[str, Any]
) -> None:
    sampler = check_config_round_trip(real_registry, "sampler", name, options)
    check_sampler(sampler, schedule=geometric)


def test_langevin_conforms_without_a_schedule(real_registry: Registry) -> None:
    sampler = check_config_round_trip(real_registry, "sampler", "langevin", {"num_steps": 3})
    check_sampler(sampler, schedule=None)


@pytest.mark.parametrize(("name", "options", "exact"), TRACE_ESTIMATORS)
def test_builtin_trace_estimators_conform(
    real_registry: Registry, name: str, options: dict[str, Any], exact: bool
) -> None:
    estimator = check_config_round_trip(real_registry, "trace_estimator", name, options)
    check_trace_estimator(estimator, exact=exact)


@pytest.mark.parametrize(("name", "options"), SCHEDULES)
def test_builtin_schedules_conform(real_registry: Registry, name: str, options: dict[str, Any]) -> None:
    check_schedule(check_config_round_trip(real_registry, "schedule", name, options))


def test_round_trip_keeps_nested_components(real_registry: Registry) -> None:
    loss = check_config_round_trip(
        real_registry, "loss", "ssm", {"estimator": {"kind": "hutchinson", "probes": 3, "distribution": "gaussian"}}
    )
    assert (loss.estimator.num_probes, loss.estimator.distribution) == (3, "gaussian")


def test_round_trip_reports_invalid_options_with_their_path(real_registry: Registry) -> None:
    from scorekit import ConfigError

    with pytest.raises(ConfigError, match=r"@ \$\.loss\.sigma"):
        check_config_round_trip(real_registry, "loss", "dsm", {"sigma": -1.0})
    with pytest.raises(ConfigError, match=r"@ \$\.trace_estimator\.probes"):
        check_config_round_trip(real_registry, "trace_estimator", "hutchinson", {"probes": 0})


def test_outputs_on_the_available_devices(real_registry: Registry, geometric: NoiseSchedule) -> None:
    sampler = check_config_round_trip(real_registry, "sampler", "annealed_langevin", {"steps_per_level": 1})
    loss = check_config_round_trip(real_registry, "loss", "ncsn", {})

    def sample(device: torch.device) -> torch.Tensor:
        model = ReferenceScoreModel((2,)).to(device)
        return sampler.sample(model, (4, 2), schedule=geometric, device=device)

    def loss_value(device: torch.device) -> torch.Tensor:
        model = ReferenceScoreModel((2,)).to(device)
        return loss(model, torch.zeros(4, 2, device=device), schedule=geometric)

    expected = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    assert [d.type for d in check_device(sample)] == expected
    assert [d.type for d in check_device(loss_value)] == expected


def test_reference_model_has_its_closed_form() -> None:
    model = ReferenceScoreModel((2,), dtype=torch.float64)
    with torch.no_grad():
        model.w2.zero_()
    x = torch.tensor([[1.0, -2.0], [0.5, 0.0]], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    expected = -x * torch.log(torch.tensor(2.0, dtype=torch.float64)) / torch.tensor([[1.0], [2.0]], dtype=x.dtype)
    torch.testing.assert_close(model(x, t), expected, rtol=1e-12, atol=0)
    with pytest.raises(AssertionError, match="t of shape"):
        model(x, torch.zeros(2, 1))
    with pytest.raises(AssertionError, match="float32"):
        model(x.float(), t)


# Broken components: the kit must catch each and say what is wrong.


class _WrappedLoss(Loss):
    needs_schedule: ClassVar[bool] = False

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def __call__(
        self, model: ScoreModel, x0: torch.Tensor, *, schedule: Any = None, generator: Any = None
    ) -> torch.Tensor:
        t = torch.zeros(x0.shape[0], dtype=x0.dtype)
        per_sample = 0.5 * model(x0, t).square().reshape(x0.shape[0], -1).sum(1)
        if self.fault == "float64":
            return per_sample.mean().double()
        if self.fault == "vector":
            return per_sample
        if self.fault == "global_rng":
            return per_sample.mean() + 1e-3 * torch.randn((), dtype=x0.dtype)
        if self.fault == "detached":
            return per_sample.mean().detach().requires_grad_(True)
        return per_sample.mean()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("float64", "returned a torch.float64 value for torch.float32 input"),
        ("vector", r"returned shape \(8,\), not a scalar"),
        ("global_rng", "same generator seed"),
        ("detached", "gave no gradient to the model's log_scale"),
    ],
)
def test_check_loss_catches_broken_losses(fault: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_loss(_WrappedLoss(fault))


def test_check_loss_accepts_a_correct_deterministic_loss() -> None:
    assert check_loss(_WrappedLoss("none")) is False


class _NeedsScheduleLoss(_WrappedLoss):
    needs_schedule: ClassVar[bool] = True

    def check(self, schedule: NoiseSchedule | None) -> None:
        """Forgets super().check: accepts a missing schedule."""


def test_check_loss_catches_a_check_that_accepts_no_schedule(geometric: NoiseSchedule) -> None:
    with pytest.raises(AssertionError, match="check\\(None\\) raised no ConfigError"):
        check_loss(_NeedsScheduleLoss("none"), schedule=geometric)


class _SelfConvertingLoss(Loss):
    """Declares ε but reads the network under the engine's view and converts for itself (wrongly: as a score)."""

    parametrization = "epsilon"

    def __call__(self, model: ScoreModel, x0: torch.Tensor, *, schedule: Any, generator: Any = None) -> torch.Tensor:
        t = schedule.sample_t(x0.shape[0], generator=generator).to(x0.dtype)
        x_t, eps = schedule.perturb(x0, t, generator=generator)
        network = getattr(model, "model", model)  # bypasses the conversion point
        s = schedule.std(t).to(x0.dtype).reshape(-1, *[1] * (x0.ndim - 1))
        return 0.5 * (eps + s * network(x_t, t)).square().reshape(x0.shape[0], -1).sum(1).mean()


def test_check_loss_catches_a_loss_that_converts_for_itself(geometric: NoiseSchedule) -> None:
    with pytest.raises(AssertionError, match=r"on a model predicting 'score'.*let the engine convert"):
        check_loss(_SelfConvertingLoss(), schedule=geometric)


@pytest.mark.parametrize(
    ("loss_name", "loss_options", "schedule_name", "schedule_options"),
    [
        ("ddpm", {"prediction": "epsilon"}, "cosine", {"num_steps": 50}),
        ("ddpm", {"prediction": "x0"}, "cosine", {"num_steps": 50}),
        ("ddpm", {"prediction": "v"}, "linear", {"num_steps": 50}),
        ("ddpm", {"prediction": "score"}, "vp", {"num_levels": 20}),
        ("ncsn", {}, "vp", {"num_levels": 20}),
        ("ncsn", {}, "subvp", {"num_levels": 20}),
    ],
)
def test_losses_are_one_objective_on_kernels_with_a_below_one(
    real_registry: Registry,
    loss_name: str,
    loss_options: dict[str, Any],
    schedule_name: str,
    schedule_options: dict[str, Any],
) -> None:
    """Where a(t) < 1 the four predictions differ most; the loss must not notice which one the network gives."""
    loss = check_config_round_trip(real_registry, "loss", loss_name, loss_options)
    schedule = check_config_round_trip(real_registry, "schedule", schedule_name, schedule_options)
    assert loss.parametrization == loss_options.get("prediction", "epsilon")
    assert check_loss(loss, schedule=schedule, event_shapes=((2,),), dtypes=(torch.float64,))


class _WrongShapeSampler(Sampler):
    needs_schedule: ClassVar[bool] = False

    def __init__(self, fault: str) -> None:
        self.fault = fault

    def sample(
        self,
        model: ScoreModel,
        shape: tuple[int, ...],
        *,
        schedule: Any,
        generator: Any = None,
        device: Any = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        if self.fault in ("evaluations", "prior"):
            return x + 0.1 * model(x, torch.zeros(shape[0], device=device, dtype=dtype))
        if self.fault == "shape":
            return x.reshape(shape[0], -1)[:, :1]
        if self.fault == "dtype":
            return x.float()
        return x

    def num_evaluations(self, schedule: Any) -> int | None:
        return 2 if self.fault == "evaluations" else None

    def prior_std(self, schedule: Any) -> float | None:
        return -1.0 if self.fault == "prior" else None


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("shape", r"returned shape \(4, 1\), expected \(4, 2\)"),
        ("dtype", "torch.float32 samples when torch.float64"),
        ("evaluations", r"num_evaluations says 2 model calls, but sample\(\) made 1"),
        ("prior", "prior_std returned -1.0"),
    ],
)
def test_check_sampler_catches_broken_samplers(fault: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_sampler(_WrongShapeSampler(fault), schedule=None)


def test_check_trace_estimator_catches_a_biased_estimator(real_registry: Registry) -> None:
    hutchinson = check_config_round_trip(real_registry, "trace_estimator", "hutchinson", {})

    class Biased(type(hutchinson)):  # type: ignore[misc]
        def trace(self, func: Any, x: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            fx, tr = super().trace(func, x, **kwargs)
            return fx, 1.1 * tr

    with pytest.raises(AssertionError, match="biased by more than 6 standard errors"):
        check_trace_estimator(Biased(real_registry.get("trace_estimator", "hutchinson").config()))
