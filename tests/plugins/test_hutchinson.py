"""hutchinson plugin: the exact trace against known Jacobians, Hutchinson's estimator against its moments."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch
from torch import nn

from scorekit._registry import Registry
from scorekit.interfaces import TraceEstimator
from scorekit_hutchinson.config import ExactTraceConfig, HutchinsonConfig
from scorekit_hutchinson.exact import ExactTrace
from scorekit_hutchinson.hutchinson import HutchinsonTrace

DISTRIBUTIONS = ["rademacher", "gaussian"]


def _matrix(d: int, seed: int) -> torch.Tensor:
    return torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _linear(a: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(x) = x·Aᵀ on flattened events: ∂f/∂x = A for every sample."""
    return lambda x: (x.reshape(x.shape[0], -1) @ a.T).reshape(x.shape)


def _one_probe_variance(a: torch.Tensor, distribution: str) -> float:
    """Var[εᵀAε] = 2‖A_s‖²_F (Gaussian) or 2(‖A_s‖²_F − Σ aᵢᵢ²) (Rademacher), A_s = (A + Aᵀ)/2."""
    frobenius = float(((a + a.T) / 2).square().sum())
    return 2 * frobenius if distribution == "gaussian" else 2 * (frobenius - float(a.diagonal().square().sum()))


def _draws(distribution: str, a: torch.Tensor, n: int, probes: int = 1, seed: int = 0) -> torch.Tensor:
    """n independent estimates of tr(A): each row of the batch gets its own probes."""
    estimator = HutchinsonTrace(HutchinsonConfig(probes=probes, distribution=distribution))
    x = torch.zeros(n, a.shape[0], dtype=torch.float64)
    return estimator.trace(_linear(a), x, generator=torch.Generator().manual_seed(seed))[1]


# --- exact -------------------------------------------------------------------------------------


@pytest.mark.parametrize("vjps_per_pass", [1, 3, 64])
@pytest.mark.parametrize("d", [2, 7, 16])
def test_exact_trace_of_linear_maps(d: int, vjps_per_pass: int) -> None:
    """Under torch.no_grad, with an x that does not require grad, and in passes of any width."""
    a = _matrix(d, seed=d)
    x = torch.randn(5, d, dtype=torch.float64)
    with torch.no_grad():
        fx, trace = ExactTrace(ExactTraceConfig(vjps_per_pass=vjps_per_pass)).trace(_linear(a), x)
    assert trace.shape == (5,) and not trace.requires_grad and not fx.requires_grad
    assert torch.allclose(trace, a.trace().expand(5), atol=1e-12)
    assert torch.allclose(fx, x @ a.T)


def _jacrev_trace(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per-sample tr ∂f/∂x by torch.func on the flattened event."""
    shape = x.shape[1:]

    def single(z: torch.Tensor) -> torch.Tensor:
        return f(z.reshape(1, *shape)).reshape(-1)

    jacobians = torch.func.vmap(torch.func.jacrev(single))(x.reshape(x.shape[0], -1))
    return torch.diagonal(jacobians, dim1=-2, dim2=-1).sum(-1)


@pytest.mark.parametrize("event", [(6,), (2, 3, 3)])
def test_exact_trace_of_a_nonlinear_map_matches_jacrev(event: tuple[int, ...]) -> None:
    """Any event rank is flattened inside; 4 vjps per pass leave a remainder pass at d = 6 and 18."""
    d = math.prod(event)
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(d, d, generator=generator, dtype=torch.float64) / math.sqrt(d)
    v = torch.randn(d, d, generator=generator, dtype=torch.float64) / math.sqrt(d)

    def f(x: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(x.reshape(x.shape[0], -1) @ w.T + 0.3) @ v.T).reshape(x.shape)

    x = torch.randn(5, *event, generator=generator, dtype=torch.float64)
    _, trace = ExactTrace(ExactTraceConfig(vjps_per_pass=4)).trace(f, x)
    assert torch.allclose(trace, _jacrev_trace(f, x), atol=1e-12)


def test_exact_trace_in_a_loop_handles_group_norm_with_create_graph() -> None:
    """GroupNorm's double backward has no vmap rule (torch 2.13): vjps_per_pass = 1 is the plain loop."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.SiLU(), nn.Conv2d(4, 2, 1)).double()
    x = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    _, trace = ExactTrace(ExactTraceConfig(vjps_per_pass=1)).trace(net, x, create_graph=True)
    trace.sum().backward()
    assert torch.allclose(trace.detach(), _jacrev_trace(net, x), atol=1e-10)
    assert all(p.grad is not None for p in net[0].parameters())


def test_a_function_of_the_parameters_alone_has_zero_trace() -> None:
    b = nn.Parameter(torch.ones(3))
    for estimator in (ExactTrace(ExactTraceConfig()), HutchinsonTrace(HutchinsonConfig(probes=2))):
        fx, trace = estimator.trace(lambda x: b.expand(x.shape), torch.randn(4, 3))
        assert torch.equal(trace, torch.zeros(4)) and torch.equal(fx, torch.ones(4, 3))
        fx, trace = estimator.trace(lambda x: torch.ones_like(x), torch.randn(4, 3))
        assert torch.equal(trace, torch.zeros(4))


def test_f_must_keep_the_shape_of_x() -> None:
    with pytest.raises(ValueError, match=r"shaped like x \(4, 3\), got \(4, 2\)"):
        ExactTrace(ExactTraceConfig()).trace(lambda x: x[:, :2], torch.randn(4, 3))


# --- hutchinson: moments -----------------------------------------------------------------------


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_hutchinson_is_unbiased(distribution: str) -> None:
    a = _matrix(7, seed=1)
    draws = _draws(distribution, a, n=20000)
    standard_error = float(draws.std()) / math.sqrt(len(draws))
    assert abs(float(draws.mean()) - float(a.trace())) < 5 * standard_error


@pytest.mark.parametrize("probes", [1, 4])
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_hutchinson_variance_matches_its_closed_form(distribution: str, probes: int) -> None:
    """Var = 2‖A_s‖²_F (Gaussian) or 2(‖A_s‖²_F − Σ aᵢᵢ²) (Rademacher), divided by K probes.

    The sample variance s² of n draws has Var(s²) ≈ (μ₄ − σ⁴)/n, with μ₄ the fourth central moment,
    which the heavy tails of a quadratic form in Gaussians make far larger than the 2σ⁴ of a normal
    sample (the √(2/(n−1)) rule). Its standard error is estimated from the draws' own fourth moment
    and the check is 5 of them.
    """
    a = _matrix(6, seed=2)
    expected = _one_probe_variance(a, distribution) / probes
    draws = _draws(distribution, a, n=40000, probes=probes, seed=3)
    centred = draws - draws.mean()
    variance = float(centred.square().mean())
    fourth = float(centred.pow(4).mean())
    standard_error = math.sqrt((fourth - variance**2) / len(draws))
    assert abs(variance - expected) < 5 * standard_error
    assert standard_error < 0.05 * expected  # the check has power: 5 SE is within 25% of the value


def test_rademacher_probes_are_exact_for_diagonal_jacobians() -> None:
    a = torch.diag(torch.tensor([1.0, -2.0, 3.5], dtype=torch.float64))
    assert torch.allclose(_draws("rademacher", a, n=100), torch.full((100,), 2.5, dtype=torch.float64))


def test_sample_probes_have_zero_mean_and_identity_covariance() -> None:
    for distribution in DISTRIBUTIONS:
        estimator = HutchinsonTrace(HutchinsonConfig(distribution=distribution))
        x = torch.zeros(10000, 2, 2, dtype=torch.float64)
        probes = estimator.sample_probes(x, 3, generator=torch.Generator().manual_seed(0))
        assert probes.shape == (3, 10000, 2, 2) and probes.dtype == torch.float64
        flat = probes.reshape(-1, 4)
        # Entries have variance ≤ 3 (Gaussian fourth moment): 5 SE = 5·√(3/30000) < 0.05.
        assert torch.allclose(flat.mean(0), torch.zeros(4, dtype=torch.float64), atol=0.05)
        assert torch.allclose(flat.T @ flat / len(flat), torch.eye(4, dtype=torch.float64), atol=0.05)
    signs = HutchinsonTrace(HutchinsonConfig()).sample_probes(torch.zeros(5, 3), 2)
    assert set(signs.unique().tolist()) == {-1.0, 1.0}


# --- hutchinson: probes and determinism --------------------------------------------------------


def test_fixed_probe_is_reused_until_reset() -> None:
    a = _matrix(4, seed=4)
    estimator = HutchinsonTrace(HutchinsonConfig(probes=2, distribution="gaussian", fixed_probe=True))
    generator = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    assert estimator.fixed_probes is None

    def quadratic_form(eps: torch.Tensor) -> torch.Tensor:
        return torch.einsum("kbi,ij,kbj->b", eps, a, eps) / eps.shape[0]

    _, first = estimator.trace(_linear(a), x1, generator=generator)
    eps = estimator.fixed_probes
    assert eps is not None and eps.shape == (2, 5, 4)
    state = generator.get_state()
    _, second = estimator.trace(_linear(a), x2, generator=generator)
    assert estimator.fixed_probes is eps and torch.equal(generator.get_state(), state)  # the generator is untouched
    assert torch.allclose(first, quadratic_form(eps)) and torch.allclose(second, first)

    estimator.reset()
    assert estimator.fixed_probes is None
    _, third = estimator.trace(_linear(a), x1, generator=generator)
    fresh = estimator.fixed_probes
    assert fresh is not None and not torch.equal(fresh, eps)
    assert torch.allclose(third, quadratic_form(fresh))

    _, smaller = estimator.trace(_linear(a), x1[:3], generator=generator)  # a new shape draws anew
    assert estimator.fixed_probes.shape == (2, 3, 4) and torch.allclose(smaller, quadratic_form(estimator.fixed_probes))


def test_without_fixed_probe_every_call_draws_and_seeds_reproduce() -> None:
    a = _matrix(4, seed=5)
    x = torch.randn(8, 4, dtype=torch.float64)
    estimator = HutchinsonTrace(HutchinsonConfig())
    generator = torch.Generator().manual_seed(7)
    first = estimator.trace(_linear(a), x, generator=generator)[1]
    second = estimator.trace(_linear(a), x, generator=generator)[1]
    assert not torch.equal(first, second) and estimator.fixed_probes is None
    again = HutchinsonTrace(HutchinsonConfig()).trace(_linear(a), x, generator=torch.Generator().manual_seed(7))[1]
    assert torch.equal(again, first)


# --- gradients through the trace ---------------------------------------------------------------


class TanhLayer(nn.Module):
    """f(x) = tanh(x·Wᵀ), W square: tr ∂f/∂x = Σᵢ (1 − tanh²(uᵢ))·Wᵢᵢ with u = x·Wᵀ."""

    def __init__(self, d: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(d)
        self.weight = nn.Parameter(torch.randn(d, d, generator=generator, dtype=torch.float64) / math.sqrt(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.weight.T)

    def closed_form_trace(self, x: torch.Tensor) -> torch.Tensor:
        return ((1 - torch.tanh(x @ self.weight.T).square()) * self.weight.diagonal()).sum(-1)


@pytest.mark.parametrize("x_in_a_graph", [False, True])
def test_exact_trace_gradient_is_exact(x_in_a_graph: bool) -> None:
    """d tr/dθ reaches the network's parameters, and the producer of x when x is in a graph."""
    layer = TanhLayer(5)
    scale = nn.Parameter(torch.tensor(1.5, dtype=torch.float64))
    x0 = torch.randn(6, 5, dtype=torch.float64)
    x = scale * x0 if x_in_a_graph else x0
    fx, trace = ExactTrace(ExactTraceConfig()).trace(layer, x, create_graph=True)
    (fx.sum() + trace.sum()).backward()
    estimated = (layer.weight.grad.clone(), scale.grad)
    layer.weight.grad, scale.grad = None, None
    x = scale * x0 if x_in_a_graph else x0
    (layer(x).sum() + layer.closed_form_trace(x).sum()).backward()
    assert torch.allclose(estimated[0], layer.weight.grad, atol=1e-12)
    if x_in_a_graph:
        assert estimated[1] is not None and torch.allclose(estimated[1], scale.grad, atol=1e-12)
    else:
        assert estimated[1] is None


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_hutchinson_trace_gradient_is_unbiased(distribution: str) -> None:
    """The mean of d(mean trace)/dW over 40 independent batches is the exact one within 5 SE per entry.

    Batch means are independent and nearly normal, so their spread estimates the standard error.
    """
    layer, groups = TanhLayer(3), 40
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    estimator = HutchinsonTrace(HutchinsonConfig(distribution=distribution))
    generator = torch.Generator().manual_seed(2)
    gradients = []
    for _ in range(groups):
        layer.zero_grad()
        estimator.trace(layer, x, create_graph=True, generator=generator)[1].mean().backward()
        gradients.append(layer.weight.grad.clone())
    stacked = torch.stack(gradients)
    layer.zero_grad()
    layer.closed_form_trace(x).mean().backward()
    standard_error = stacked.std(0) / math.sqrt(groups)
    assert torch.all((stacked.mean(0) - layer.weight.grad).abs() <= 5 * standard_error + 1e-12)


# --- the plugin ---------------------------------------------------------------------------------


def test_discovered_through_its_entry_point(registry: Registry) -> None:
    for name, config, cls in (
        ("exact", ExactTraceConfig, ExactTrace),
        ("hutchinson", HutchinsonConfig, HutchinsonTrace),
    ):
        entry = registry.get("trace_estimator", name)
        assert (entry.plugin.name, entry.plugin.distribution, entry.plugin.version) == (
            "hutchinson",
            "scorekit-hutchinson",
            "0.1.0",
        )
        assert entry.config is config
        built = entry.build(config())
        assert isinstance(built, cls) and isinstance(built, TraceEstimator)
    assert registry.components_of("hutchinson") == {"trace_estimator": ["exact", "hutchinson"]}


def test_discovery_imports_no_torch() -> None:
    code = "import sys, scorekit_hutchinson.hooks; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
