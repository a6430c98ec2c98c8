"""contrib/template: the copy-and-rename plugin loads into a fresh registry and its loss is DSM."""

from __future__ import annotations

import importlib
import math
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

from scorekit import Loss, ScoreModel, append_dims
from scorekit._registry import Registry, load_registry

TEMPLATE = Path(__file__).resolve().parents[2] / "contrib" / "template"


class FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self.metadata = {"Name": name}


class TemplateEntryPoint:
    """The entry point ``pip install`` would create from the template's pyproject.toml."""

    def __init__(self) -> None:
        project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]
        ((self.name, self.value),) = project["entry-points"]["scorekit"].items()
        self.dist = FakeDist(project["name"], project["version"])

    def load(self) -> ModuleType:
        return importlib.import_module(self.value)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A registry holding the template alone, imported from its source tree."""
    monkeypatch.delenv("SCOREKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("SCOREKIT_BLOCK_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(TEMPLATE / "src"))
    return load_registry(entry_points=[TemplateEntryPoint()])


class GaussianScore(ScoreModel):
    """The exact score of N(0, I) convolved with N(0, σ²I), σ = t: −x/(1 + σ²)."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -x / (1 + append_dims(t, x) ** 2)


class LinearScore(ScoreModel):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.linear(x) / append_dims(t, x)


def build_loss(registry: Registry, **options: Any) -> Loss:
    entry = registry.get("loss", "template_dsm")
    return entry.build(entry.config(**options))


def test_registers_its_loss_under_its_distribution(registry: Registry) -> None:
    assert not registry.failures
    assert [(p.name, p.distribution, p.version) for p in registry.plugins] == [
        ("template", "scorekit-template", "0.1.0")
    ]
    assert registry.components_of("template") == {"loss": ["template_dsm"]}
    loss = build_loss(registry)
    assert isinstance(loss, Loss) and not loss.needs_schedule


def test_loss_at_the_exact_score_is_the_dsm_constant(registry: Registry) -> None:
    """For data N(0, I) the residual s + ε/σ is N(0, I/(σ²(1 + σ²))) per coordinate, so the minimum
    of the loss is d/(2σ²(1 + σ²)): the part of the DSM target the data cannot explain."""
    sigma, n, d = 0.5, 40000, 2
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, d, generator=generator, dtype=torch.float64)
    value = float(build_loss(registry, sigma=sigma)(GaussianScore(), x0, schedule=None, generator=generator))
    expected = d / (2 * sigma**2 * (1 + sigma**2))
    # Per sample the loss is (v/2)·χ²_d: mean d·v/2, standard deviation v·√(d/2).
    assert abs(value - expected) < 5 * expected * math.sqrt(2 / d) / math.sqrt(n)


def test_loss_is_a_finite_scalar_with_finite_gradients(registry: Registry) -> None:
    torch.manual_seed(0)
    model, x0 = LinearScore(3), torch.randn(256, 3)
    value = build_loss(registry)(model, x0, schedule=None, generator=torch.Generator().manual_seed(1))
    value.backward()
    assert value.ndim == 0 and bool(torch.isfinite(value))
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_an_epsilon_network_is_refused_instead_of_trained_on_the_wrong_objective(registry: Registry) -> None:
    """The template declares the score with no kernel of its own: a time_mlp (ε) must not train with it."""
    from scorekit.builtins.configs import TimeMLPConfig
    from scorekit.errors import ConfigError
    from scorekit.nets.time_mlp import TimeMLP
    from scorekit.testing import check_loss

    loss = build_loss(registry)
    assert loss.parametrization == "score" and loss.kernel_schedule(None) is None
    model = TimeMLP(TimeMLPConfig(hidden=8, layers=1))
    model.bind((2,))
    with pytest.raises(ConfigError, match=r"needs the model's 'score' but the model predicts 'epsilon'"):
        loss(model, torch.randn(4, 2), schedule=None)
    assert check_loss(loss)  # the kit's contract, including the refusal of other predictions
