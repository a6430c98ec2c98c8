"""Imputation: the Imputed view's methods against their formulas, any sampler, exact scores, bad input."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from scorekit._registry import Registry
from scorekit.data.mixture import GaussianMixture, eight_gaussians
from scorekit.engine.inputs import observed_of
from scorekit.engine.sampling import sample_in_chunks
from scorekit.errors import ConfigError, UserError
from scorekit.evaluation import KernelScoreModel, gaussian_kernel_score
from scorekit.imputation import Imputed, Observation, complete
from scorekit.interfaces import Sampler
from scorekit.parametrization import convert
from tests.conftest import small_config, write_toml
from tests.core.test_cli import run_cli


def _build(registry: Registry, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


class _Recorder(torch.nn.Module):
    """A score model x ↦ −x/(1 + s²)... that records what it was shown."""

    parametrization = "score"
    event_shape = (3,)

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule, self.seen = schedule, []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        a, s = self.schedule.kernel(t)
        # The exact score of N(0, I) data under the kernel: −x / (a² + s²), a smooth nonlinearity added.
        return -x / (a * a + s * s)[:, None] + 0.1 * torch.tanh(x[:, [1, 2, 0]])


def _observation(method: str, rows: int = 4) -> Observation:
    values = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64).expand(rows, -1).clone()
    mask = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64).expand(rows, -1).clone()
    return Observation(values, mask, method, 0.7)


@pytest.mark.parametrize("method", ["replace", "annealed"])
def test_the_model_sees_the_known_part_as_the_method_says(registry: Registry, method: str) -> None:
    schedule = _build(registry, "schedule", "linear")
    model = _Recorder(schedule)
    observation = _observation(method)
    view = Imputed(model, schedule, observation, torch.Generator().manual_seed(5))
    x = torch.randn(4, 3, dtype=torch.float64)
    t = torch.full((4,), 400.0, dtype=torch.float64)
    out = view(x, t)
    shown = model.seen[-1]
    a, s = schedule.kernel(t)
    assert torch.equal(shown[:, 1], x[:, 1])  # the free coordinate untouched
    known = a[:, None] * observation.values[:, [0, 2]]
    if method == "annealed":
        assert torch.allclose(shown[:, [0, 2]], known)  # the noise-free mean a(t)·y
    else:
        noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        assert torch.allclose(shown[:, [0, 2]], known + s[:, None] * noise[:, [0, 2]])  # a draw of q(x_t | y)
    assert torch.equal(out, model(shown, t))


@pytest.mark.parametrize("prediction", ["score", "epsilon", "x0", "v"])
def test_guidance_is_the_reconstruction_gradient_in_every_parametrization(registry: Registry, prediction: str) -> None:
    schedule = _build(registry, "schedule", "linear")
    base = _Recorder(schedule)

    class AsPrediction(torch.nn.Module):
        parametrization = prediction
        event_shape = (3,)

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            a, s = schedule.kernel(t)
            return convert(base(x, t), x, a, s, source="score", target=prediction)

    observation = _observation("guidance")
    x = torch.randn(4, 3, dtype=torch.float64)
    t = torch.tensor([50.0, 300.0, 600.0, 900.0], dtype=torch.float64)
    out = Imputed(AsPrediction(), schedule, observation, torch.Generator().manual_seed(5))(x, t)
    a, s = schedule.kernel(t)
    guided_score = convert(out, base.seen[0], a, s, source=prediction, target="score")
    # By hand: the shown input x', score(x') − ∇‖m⊙(y − x̂₀(x'))‖²/(2 r²), r² = s²v/(a²v + s²).
    shown = base.seen[0].clone().requires_grad_(True)
    score = base(shown, t)
    denoised = (shown + (s * s)[:, None] * score) / a[:, None]
    misfit = 0.5 * (observation.mask * (observation.values - denoised)).square().sum()
    (gradient,) = torch.autograd.grad(misfit, shown)
    r2 = (s * s * 0.7 / (a * a * 0.7 + s * s))[:, None]
    assert torch.allclose(guided_score, score.detach() - gradient / r2, rtol=1e-9, atol=1e-9)


def test_complete_sets_the_known_values_exactly() -> None:
    observation = _observation("replace", rows=2)
    x = complete(torch.zeros(2, 3, dtype=torch.float64), observation)
    assert x.tolist() == [[0.5, 0.0, 2.0], [0.5, 0.0, 2.0]]


def test_imputation_refuses_a_model_of_no_kernel_prediction(registry: Registry) -> None:
    class Velocity(torch.nn.Module):
        parametrization = "velocity"
        event_shape = (3,)

    with pytest.raises(ConfigError, match="needs a model of the kernel's noise"):
        Imputed(Velocity(), _build(registry, "schedule", "linear"), _observation("replace"), torch.Generator())


# -- exact scores ---------------------------------------------------------------------------------
class _CorrelatedGaussian(torch.nn.Module):
    """The exact score of N(μ, Σ) data, ρ = 0.8, under ``schedule``'s kernel."""

    parametrization = "score"
    event_shape = (2,)
    num_classes = 0
    mean = torch.tensor([0.3, -0.2], dtype=torch.float64)
    covariance = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule = schedule

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self.schedule.kernel(t)
        out = torch.empty_like(x)
        for level in t.unique():
            rows = t == level
            score = gaussian_kernel_score(
                x[rows].double(), self.mean, self.covariance, float(a[rows][0]), float(s[rows][0])
            )
            out[rows] = score.to(x.dtype)
        return out


def _complete_gaussian(registry: Registry, sampler: Any, schedule: Any, method: str, n: int = 2000) -> torch.Tensor:
    observation = Observation(
        torch.tensor([[1.5, 0.0]]).expand(n, -1).clone(), torch.tensor([[1.0, 0.0]]).expand(n, -1).clone(), method
    )
    return sample_in_chunks(
        sampler,
        _CorrelatedGaussian(schedule),
        n,
        (2,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=n,
        observation=observation,
    )


def test_guidance_corrects_what_replacement_gets_wrong_on_a_correlated_gaussian(registry: Registry) -> None:
    """x₁ = 1.5 observed: x₂ ∣ x₁ ~ N(−0.2 + 0.8·1.2, 1 − 0.8²) = N(0.76, 0.6²) in closed form."""
    schedule = _build(registry, "schedule", "linear")
    ddpm = _build(registry, "sampler", "ddpm")
    guided = _complete_gaussian(registry, ddpm, schedule, "guidance")
    assert bool((guided[:, 0] == 1.5).all())
    # 5 standard errors of 2,000 draws: mean 5·0.6/√2000 = 0.067, standard deviation 5·0.6/√4000 = 0.047.
    assert abs(float(guided[:, 1].mean()) - 0.76) < 0.067 and abs(float(guided[:, 1].std()) - 0.6) < 0.047
    # The baseline sees x₁ only through a noisy copy while x₂ takes shape: its mean lags (measured 0.44).
    replaced = _complete_gaussian(registry, ddpm, schedule, "replace")
    assert float(guided[:, 1].mean()) - float(replaced[:, 1].mean()) > 0.2


def test_annealed_method_with_annealed_langevin_reaches_the_exact_conditional(registry: Registry) -> None:
    schedule = _build(registry, "schedule", "geometric", sigma_max=5.0, sigma_min=0.02, num_levels=20)
    sampler = _build(registry, "sampler", "annealed_langevin", steps_per_level=50, epsilon=2e-4)
    x = _complete_gaussian(registry, sampler, schedule, "annealed")
    assert abs(float(x[:, 1].mean()) - 0.76) < 0.067 and abs(float(x[:, 1].std()) - 0.6) < 0.047


def test_a_third_party_sampler_imputes_unchanged(registry: Registry) -> None:
    class Euler(Sampler):
        """Probability-flow Euler steps in σ on a VE schedule, written without knowing about imputation."""

        parametrization = "score"

        def sample(self, model: Any, shape: tuple[int, ...], *, schedule: Any, generator: Any = None, **_: Any) -> Any:
            sigmas = torch.linspace(3.0, 0.01, 200, dtype=torch.float64)
            x = torch.randn(shape, generator=generator, dtype=torch.float64) * 3.0
            for hi, lo in itertools.pairwise(sigmas):
                x = x + 0.5 * (hi**2 - lo**2) * model(x, torch.full((shape[0],), float(hi), dtype=torch.float64))
            return x.float()

    sched = _build(registry, "schedule", "geometric", sigma_max=3.0, sigma_min=0.01, num_levels=10)
    density = GaussianMixture(eight_gaussians().means / 4, 0.3 / 4)
    n = 400
    observation = Observation(
        torch.tensor([[0.0, 0.0]]).expand(n, -1).clone(), torch.tensor([[1.0, 0.0]]).expand(n, -1).clone(), "guidance"
    )
    x = sample_in_chunks(
        Euler(),
        KernelScoreModel(density, sched),
        n,
        (2,),
        schedule=sched,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=n,
        observation=observation,
    )
    # x₁ = 0: the modes at ±90° (y = ±1) only; both reached.
    assert bool((x[:, 0] == 0).all())
    assert float((x[:, 1].abs() - 1).abs().median()) < 0.1 and 0.3 < float((x[:, 1] > 0).float().mean()) < 0.7


# -- input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("observed", "mask", "message"),
    [
        ([[0.0, float("nan")]], [1, 0], "the observed values: input holds NaN"),
        ([[0.0, 1.0]], [1, 0, 1], r"the mask has shape \(3,\); it must have the observed values' shape \(1, 2\)"),
        ([[0.0, 1.0]], [0.5, 1.0], "must hold only 0 .to impute. and 1 .known."),
        ([[0.0, 1.0]], [2, 0], "must hold only 0"),
        ([[0.0, 1.0]], ["a", "b"], "the mask must hold 0s and 1s"),
        ([[0.0, 1.0]], [0, 0], "marks nothing as known"),
        ([[0.0, 1.0]], [True, True], "marks every value as known"),
        ([[0.0, 1.0, 2.0]], [1, 0], r"input must have shape \(N, 2\) or \(2\)"),
    ],
)
def test_observed_and_mask_errors_are_one_line(observed: Any, mask: Any, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        observed_of(observed, np.asarray(mask), (2,))
    assert "\n" not in str(info.value)


def test_a_mask_of_one_point_applies_to_every_row() -> None:
    values, known, one = observed_of(np.zeros((3, 2)), np.array([True, False]), (2,))
    assert not one and known.tolist() == [[1.0, 0.0]] * 3 and values.shape == (3, 2)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("impute")
    raw = small_config(model={"hidden": 64}, train={"steps": 300, "batch_size": 256}, sampler={"steps_per_level": 10})
    from scorekit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(root / "c.toml", raw)), "--run-dir", str(root / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    return root / "run"


def test_impute_command_writes_completions(small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "one.npy", np.array([2.83, 0.0], dtype=np.float32))
    np.save(tmp_path / "rows.npy", np.array([[2.83, 0.0], [0.0, 4.0], [-4.0, 0.0]], dtype=np.float32))
    np.save(tmp_path / "mask.npy", np.array([[1, 0], [0, 1], [1, 0]], dtype=np.int64))
    out = tmp_path / "c.npy"
    code, text, err = run_cli(
        ["impute", small_run, "--observed", tmp_path / "one.npy", "--mask", "0", "-n", "50", "-o", out], capsys
    )
    assert code == 0, err
    completed = np.load(out)
    assert completed.shape == (50, 2) and (completed[:, 0] == np.float32(2.83)).all()
    assert "wrote 50 completions (guidance)" in text
    code, _, err = run_cli(
        [
            "impute",
            small_run,
            "--observed",
            tmp_path / "rows.npy",
            "--mask",
            tmp_path / "mask.npy",
            "-o",
            out,
            "--method",
            "replace",
        ],
        capsys,
    )
    assert code == 0, err
    completed = np.load(out)
    assert completed.shape == (3, 2) and completed[1, 1] == np.float32(4.0) and completed[2, 0] == np.float32(-4.0)
    code, _, err = run_cli(
        ["impute", small_run, "--observed", tmp_path / "one.npy", "--mask", "1", "-n", "20", "-o", tmp_path / "c.png"],
        capsys,
    )
    assert code == 0 and (tmp_path / "c.png").stat().st_size > 0, err


@pytest.mark.parametrize(
    ("observed", "mask", "extra", "message"),
    [
        (np.array([0.0, np.nan], dtype=np.float32), "0", [], "NaN"),
        (np.zeros(2, dtype=np.float32), "top", [], "--mask top is for image runs"),
        (np.zeros(2, dtype=np.float32), "5", [], "coordinate 5 does not exist"),
        (np.zeros(2, dtype=np.float32), "what", [], "--mask must be a .npy/.npz file"),
        (np.zeros(2, dtype=np.float32), np.array([0.5, 1.0]), [], "must hold only 0"),
        (np.zeros((2, 2), dtype=np.float32), np.array([1, 0, 0]), [], "the mask has shape"),
        (np.zeros(2, dtype=np.float32), "0", ["--label", "1"], "needs a class-conditional model"),
        (np.zeros(2, dtype=np.float32), "0", ["--method", "magic"], "Invalid value for '--method'"),
    ],
)
def test_impute_bad_input_is_one_line(
    small_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    observed: Any,
    mask: Any,
    extra: list[str],
    message: str,
) -> None:
    np.save(tmp_path / "o.npy", observed)
    if isinstance(mask, np.ndarray):
        np.save(tmp_path / "m.npy", mask)
        mask = tmp_path / "m.npy"
    out = tmp_path / "c.npy"
    code, _, err = run_cli(
        ["impute", small_run, "--observed", tmp_path / "o.npy", "--mask", mask, "-o", out, *extra], capsys
    )
    assert code == 2 and re.search(re.escape(message) if message != "NaN" else "NaN", err), err
    assert len(err.strip().splitlines()) <= 3 and not out.exists()
