"""The consistent_annealed contrib plugin: discovery, closed forms with analytic scores, the runner end to end."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scorekit import ConfigError, NoiseSchedule, ScoreModel, append_dims
from scorekit._registry import Registry
from scorekit.data import GaussianMixture
from scorekit_contrib_cas.config import ConsistentAnnealedConfig
from scorekit_contrib_cas.sampler import ConsistentAnnealedSampler
from tests.conftest import preset_dict, write_toml


class GaussianScore(ScoreModel):
    """The exact score of N(0, c²I) convolved with N(0, σ²I), σ = t: −x/(c² + σ²)."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c2 = c * c

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -x / (self.c2 + append_dims(t, x) ** 2)


class MixtureScore(ScoreModel):
    """The exact score of a Gaussian mixture convolved with N(0, t²I)."""

    def __init__(self, mixture: GaussianMixture) -> None:
        super().__init__()
        self.mixture = mixture

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.mixture.score(x, sigma=t)


def schedule(registry: Registry, kind: str, **options: object) -> NoiseSchedule:
    """A schedule built through the registry, the way a run builds it."""
    entry = registry.get("schedule", kind)
    return entry.build(entry.config(**options))


def levels(s: NoiseSchedule) -> list[float]:
    return [float(v) for v in s.levels()]


def ratio(sigmas: list[float]) -> float:
    return (sigmas[0] / sigmas[-1]) ** (1 / (len(sigmas) - 1))


def cas_variance(c: float, sigmas: list[float], eta: float, *, denoise: bool) -> float:
    """Per-coordinate variance of CAS on N(0, c²I) with the exact score.

    x₁ ~ N(0, σ₁²I) and every step is linear, x ← a_i·x + β·σ_{i+1}·z with a_i = 1 − ησ_i²/(c² + σ_i²),
    so v₁ = σ₁², v_{i+1} = a_i²·v_i + β²σ_{i+1}²; the Tweedie step multiplies x by c²/(c² + σ_L²).
    """
    beta2 = 1 - (ratio(sigmas) * (1 - eta)) ** 2
    v = sigmas[0] ** 2
    for sigma, sigma_next in itertools.pairwise(sigmas):
        v = (1 - eta * sigma**2 / (c * c + sigma**2)) ** 2 * v + beta2 * sigma_next**2
    if denoise:
        v *= (c * c / (c * c + sigmas[-1] ** 2)) ** 2
    return v


def sample_variance(c: float, s: NoiseSchedule, eta: float, *, denoise: bool, n: int) -> float:
    config = ConsistentAnnealedConfig(epsilon=eta * levels(s)[-1] ** 2, denoise=denoise)
    generator = torch.Generator().manual_seed(0)
    x = ConsistentAnnealedSampler(config).sample(
        GaussianScore(c), (n, 2), schedule=s, generator=generator, dtype=torch.float64
    )
    return float(x.var(dim=0).mean())


def test_discovered_through_its_entry_point(registry: Registry) -> None:
    entry = registry.get("sampler", "consistent_annealed")
    assert (entry.plugin.name, entry.plugin.distribution, entry.plugin.version) == (
        "consistent_annealed",
        "scorekit-contrib-cas",
        "0.1.0",
    )
    assert entry.plugin in registry.plugins and not registry.failures
    assert entry.config is ConsistentAnnealedConfig
    assert isinstance(entry.build(ConsistentAnnealedConfig()), ConsistentAnnealedSampler)


def test_discovery_imports_no_torch() -> None:
    code = "import sys, scorekit_contrib_cas.hooks; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("eta", [0.6, 1.0, 1.4])
def test_a_point_mass_keeps_the_noise_on_schedule(registry: Registry, eta: float) -> None:
    """With c = 0 the exact score −x/σ² is the denoising target, and CAS ends at variance σ_L² for every η."""
    s = schedule(registry, "geometric", sigma_max=10.0, sigma_min=0.1, num_levels=8)
    n = 20000
    variance = sample_variance(0.0, s, eta, denoise=False, n=n)
    expected = levels(s)[-1] ** 2
    # Two coordinates' sample variances of n normals: standard error v/√n.
    assert abs(variance - expected) < 5 * expected / math.sqrt(n)


@pytest.mark.parametrize(("eta", "denoise"), [(0.6, False), (1.0, False), (1.4, False), (0.6, True)])
def test_gaussian_data_variance_matches_the_closed_form(registry: Registry, eta: float, denoise: bool) -> None:
    c, n = 1.0, 20000
    s = schedule(registry, "geometric", sigma_max=10.0, sigma_min=0.1, num_levels=8)
    expected = cas_variance(c, levels(s), eta, denoise=denoise)
    tolerance = 5 * expected / math.sqrt(n)
    # With a marginal score the variance falls short of c² + σ_L² (the docstring's η²c²σ²/(c² + σ²)
    # per step): far enough here that the test tells the closed form from the naive answer.
    naive = c * c + (0.0 if denoise else levels(s)[-1] ** 2)
    assert abs(expected - naive) > 10 * tolerance
    assert abs(sample_variance(c, s, eta, denoise=denoise, n=n) - expected) < tolerance


def test_the_lower_end_of_epsilon_is_the_probability_flow_euler_step(registry: Registry) -> None:
    """β = 0: x ← x + σ_i(σ_i − σ_{i+1})·s, exact for a point mass, so x_L = (σ_L/σ₁)·x₁."""
    s = schedule(registry, "geometric", sigma_max=10.0, sigma_min=0.1, num_levels=8)
    sigmas = levels(s)
    config = ConsistentAnnealedConfig(epsilon=sigmas[-1] ** 2 * (1 - 1 / ratio(sigmas)), denoise=False)
    x = ConsistentAnnealedSampler(config).sample(
        GaussianScore(0.0), (100, 2), schedule=s, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    x1 = sigmas[0] * torch.randn((100, 2), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(x, x1 * sigmas[-1] / sigmas[0], rtol=1e-6)


def test_mixture_mode_weights(registry: Registry) -> None:
    """Fine levels and ε = 2σ_L²(1 − 1/γ), the reverse SDE's step: unequal modes keep their weights."""
    mixture = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], std=0.5, weights=[0.3, 0.7])
    s = schedule(registry, "geometric", sigma_max=20.0, sigma_min=0.05, num_levels=100)
    sigmas = levels(s)
    config = ConsistentAnnealedConfig(epsilon=2 * sigmas[-1] ** 2 * (1 - 1 / ratio(sigmas)))
    x = ConsistentAnnealedSampler(config).sample(
        MixtureScore(mixture), (20000, 2), schedule=s, generator=torch.Generator().manual_seed(0)
    )
    assert float((mixture.mode_weights(x) - mixture.weights.float()).abs().max()) < 0.02


def test_schedule_and_epsilon_mistakes_are_config_errors(registry: Registry) -> None:
    geometric = schedule(registry, "geometric", sigma_max=8.0, sigma_min=0.05, num_levels=10)
    model, shape = GaussianScore(1.0), (4, 2)
    sampler = ConsistentAnnealedSampler(ConsistentAnnealedConfig())
    with pytest.raises(ConfigError, match=r"needs a σ schedule .* @ \$\.schedule"):
        sampler.sample(model, shape, schedule=None)
    uneven = schedule(registry, "sigmas", sigmas=[1.0, 0.5, 0.1])
    with pytest.raises(ConfigError, match=r"geometric progression.* from 2 to 5 @ \$\.schedule"):
        sampler.sample(model, shape, schedule=uneven)
    # The ncsn preset's levels: γ = 160^(1/9), so ε ∈ [0.0025·(1 − 1/γ), 0.0025·(1 + 1/γ)].
    for epsilon in (1e-3, 4e-3):
        too_far = ConsistentAnnealedSampler(ConsistentAnnealedConfig(epsilon=epsilon))
        with pytest.raises(ConfigError, match=r"\[0\.00107755, 0\.00392245\] .* @ \$\.sampler\.epsilon"):
            too_far.sample(model, shape, schedule=geometric)
    assert torch.isfinite(sampler.sample(model, shape, schedule=geometric)).all()


def test_runner_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed plugin through the command line, in-process (its discovery has a test of its own)."""
    from tests.core.test_cli import run_cli

    monkeypatch.delenv("SCOREKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("SCOREKIT_BLOCK_PLUGINS", raising=False)
    raw = preset_dict()
    raw["sampler"] = {"kind": "consistent_annealed"}
    raw["data"].update(num_train=5000, num_heldout=1000)
    raw["train"].update(steps=300, log_every=100, checkpoint_every=300, progress=False)
    raw["sample"] = {"num": 500}
    config = write_toml(tmp_path / "cas.toml", raw)
    run = tmp_path / "run"

    code, _, err = run_cli(["train", config, "--run-dir", run, "--no-pictures"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["sample", run, "--num", 500, "--output", tmp_path / "x.npy", "--seed", 5], capsys)
    assert code == 0, err
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (500, 2) and np.isfinite(x).all()
    run_cli(["sample", run, "--num", 500, "--output", tmp_path / "y.npy", "--seed", 5], capsys)
    assert np.array_equal(x, np.load(tmp_path / "y.npy"))

    # An ε the run's schedule cannot take is found when sampling: a user error, exit 2, one line.
    args = ["sample", run, "--num", 5, "--output", tmp_path / "z.npy", "--set", "sampler.epsilon=0.01"]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert err.rstrip().endswith("got 0.01 @ $.sampler.epsilon")
    # One no schedule can take is found by the config's validator, before any training.
    code, _, err = run_cli(["train", config, "--run-dir", tmp_path / "bad", "--set", "sampler.epsilon=-1"], capsys)
    assert code == 2
    assert err.strip() == "error: must be a finite number > 0, got -1.0 @ $.sampler.epsilon"
    assert not (tmp_path / "bad").exists()
