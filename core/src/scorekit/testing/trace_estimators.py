"""Conformance checks for TraceEstimator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from scorekit.interfaces import TraceEstimator
from scorekit.testing._common import (
    _STANDARD_ERRORS,
    DTYPES,
    _generator,
    _require,
    _seeded,
)


def check_trace_estimator(
    estimator: TraceEstimator,
    *,
    exact: bool | None = None,
    event_shapes: Sequence[tuple[int, ...]] = ((3,), (2, 3), (1, 2, 2)),
    dtypes: Sequence[torch.dtype] = DTYPES,
    calls: int = 64,
    batch_size: int = 8,
) -> None:
    """Check the TraceEstimator contract on linear maps f(x) = x·Aᵀ (x flattened), where tr ∂f/∂x = tr(A).

    - ``trace(f, x)`` returns (f(x), trace) with f(x) of x's shape and values, and the trace of
      shape (B,) in x's dtype, finite, for events of several ranks and for each dtype;
    - the same generator seed gives the identical trace whatever the global RNG's state;
    - unbiasedness: a deterministic estimator (equal traces for two seeds) must equal tr(A) to a
      relative 1e-6 in float64 (1e-5 in float32); a randomized one must average to tr(A) within six
      standard errors over ``calls`` seeds (the standard error from the spread of per-call means,
      so probes shared across a batch are allowed). ``exact=True`` requires the former,
      ``exact=False`` the latter;
    - ``create_graph=True`` keeps the trace differentiable: for f(x) = tanh(θ·x·Aᵀ) its gradient
      in θ matches a central finite difference with the same probes (float64);
    - it works under ``torch.no_grad`` (the same values as without).

    Example::

        check_trace_estimator(registry.get("trace_estimator", "hutchinson").build(config), exact=False)
    """
    name = type(estimator).__name__
    for event_shape in event_shapes:
        for dtype in dtypes:
            where = f"event shape {event_shape}, {dtype}"
            d = math.prod(event_shape)
            matrix = _test_matrix(d, dtype)
            expected = float(torch.trace(matrix.double()))

            def linear(x: torch.Tensor, matrix: torch.Tensor = matrix) -> torch.Tensor:
                return (x.reshape(x.shape[0], -1) @ matrix.T).reshape(x.shape)

            x = torch.randn((batch_size, *event_shape), generator=_generator(99), dtype=dtype)

            def run(g: torch.Generator, x: torch.Tensor = x, f: Any = linear) -> tuple[torch.Tensor, torch.Tensor]:
                return estimator.trace(f, x, generator=g)

            fx, tr = _seeded(run, seed=0, global_seed=1)
            _require(fx.shape == x.shape, name, f"returned f(x) of shape {tuple(fx.shape)} for x {tuple(x.shape)}")
            _require(torch.allclose(fx, linear(x)), name, f"returned an f(x) that differs from func(x) ({where})")
            _require(tr.shape == (batch_size,), name, f"returned a trace of shape {tuple(tr.shape)} ({where})")
            _require(tr.dtype == dtype, name, f"returned a {tr.dtype} trace for {dtype} input ({where})")
            _require(bool(torch.isfinite(tr).all()), name, f"returned a non-finite trace ({where})")
            _, again = _seeded(run, seed=0, global_seed=2)
            _require(torch.equal(tr, again), name, f"gave different traces for the same generator seed ({where})")
            with torch.no_grad():
                _, quiet = _seeded(run, seed=0, global_seed=1)
            _require(torch.equal(tr, quiet), name, f"gave a different trace under torch.no_grad ({where})")
            _, other = _seeded(run, seed=1, global_seed=1)
            deterministic = torch.equal(tr, other)
            if exact is not None:
                kind = "deterministic" if exact else "randomized"
                _require(deterministic == exact, name, f"is not {kind}: seeds 0 and 1 gave {tr} and {other}")
            if deterministic:
                rtol = 1e-6 if dtype == torch.float64 else 1e-5
                error = (tr.double() - expected).abs().max().item()
                _require(
                    error <= rtol * abs(expected),
                    name,
                    f"is deterministic but off tr(A) = {expected:.8g} by {error:.3g} ({where})",
                )
            else:
                means = torch.stack([_seeded(run, seed=k, global_seed=1)[1].double().mean() for k in range(calls)])
                mean, error = means.mean().item(), means.std().item() / math.sqrt(calls)
                _require(
                    abs(mean - expected) <= _STANDARD_ERRORS * error + 1e-6 * abs(expected),
                    name,
                    f"averages {mean:.6g} over {calls} seeds, tr(A) = {expected:.6g}: biased by more than "
                    f"{_STANDARD_ERRORS:g} standard errors ({error:.3g}) ({where})",
                )
    _check_trace_gradient(estimator, name)


def _test_matrix(d: int, dtype: torch.dtype) -> torch.Tensor:
    """A non-symmetric A = 2I + G/√d with a trace near 2d, so relative tolerances mean something."""
    g = torch.randn(d, d, generator=_generator(7), dtype=torch.float64)
    return (2 * torch.eye(d, dtype=torch.float64) + g / math.sqrt(d)).to(dtype)


def _check_trace_gradient(estimator: TraceEstimator, name: str) -> None:
    """d tr/dθ through create_graph=True against a central difference with the same probes (float64)."""
    matrix = _test_matrix(3, torch.float64)
    x = torch.randn(4, 3, generator=_generator(5), dtype=torch.float64)

    def trace_at(theta: torch.Tensor, *, create_graph: bool) -> torch.Tensor:
        def f(z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(theta * (z @ matrix.T))

        return _seeded(
            lambda g: estimator.trace(f, x, create_graph=create_graph, generator=g)[1], seed=3, global_seed=1
        )

    theta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    tr = trace_at(theta, create_graph=True)
    _require(tr.requires_grad, name, "create_graph=True returned a trace that is not differentiable in θ")
    (grad,) = torch.autograd.grad(tr.sum(), theta)
    h = 1e-5
    with torch.no_grad():
        plus = trace_at(torch.tensor(0.7 + h, dtype=torch.float64), create_graph=False).sum()
        minus = trace_at(torch.tensor(0.7 - h, dtype=torch.float64), create_graph=False).sum()
    numeric = ((plus - minus) / (2 * h)).item()
    _require(
        abs(grad.item() - numeric) <= 1e-5 * max(1.0, abs(numeric)),
        name,
        f"d trace/dθ with create_graph=True is {grad.item():.8g}, a finite difference gives {numeric:.8g}",
    )
