"""Hutchinson's stochastic trace estimator, tr(A) = E[εᵀAε] (Hutchinson 1989; Skilling 1989)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from scorekit.interfaces import TraceEstimator
from scorekit.tensors import batch_sum
from scorekit_hutchinson._autograd import evaluate, finish, vjp
from scorekit_hutchinson.config import HutchinsonConfig

__all__ = ["HutchinsonTrace"]


class HutchinsonTrace(TraceEstimator):
    """tr ∂f/∂x ≈ (1/K)·Σₖ εₖᵀ(∂f/∂x)εₖ per sample, with K independent probes E[ε] = 0, Cov(ε) = I.

    Unbiased since E[εᵀAε] = tr(A·E[εεᵀ]) = tr(A) (Hutchinson 1989; Skilling 1989). Each probe
    costs one vector–Jacobian product, εᵀ(∂f/∂x) = ∇ₓ(f·ε), then a dot product with ε, whatever
    the dimension d. With A_s = (A + Aᵀ)/2 the symmetric part of A = ∂f/∂x, one probe has variance

    - Gaussian ε ~ N(0, I): 2‖A_s‖²_F;
    - Rademacher ε ∈ {±1}^d: 2(‖A_s‖²_F − Σᵢ aᵢᵢ²), the least of any probe with i.i.d. entries
      (Hutchinson 1989) and zero for a diagonal A;

    and K probes divide it by K. Sliced score matching is this estimate of the trace in implicit
    score matching, with the probes as its projections (Song et al. 2019); FFJORD uses it for
    d log p/dt = −tr ∂f/∂z, with one probe held fixed along each ODE solve (Grathwohl et al. 2019),
    which ``fixed_probe`` provides: probes are drawn on the first call and reused, without touching
    the generator, until ``reset()`` or until x changes shape, dtype or device.

    All randomness comes from ``generator``, on x's device and in its dtype.

    Example::

        estimator = HutchinsonTrace(HutchinsonConfig(fixed_probe=True))
        estimator.reset()  # before each ODE solve
        fx, tr = estimator.trace(lambda z: dynamics(t, z), z, create_graph=True, generator=g)
    """

    def __init__(self, config: HutchinsonConfig) -> None:
        self.num_probes = config.probes
        self.distribution = config.distribution
        self.fixed_probe = config.fixed_probe
        self._fixed: torch.Tensor | None = None

    @property
    def fixed_probes(self) -> torch.Tensor | None:
        """The probes reused by ``trace`` when ``fixed_probe``, (K, B, *event); None until drawn."""
        return self._fixed

    def reset(self) -> None:
        """Forget the fixed probes: the next call draws new ones (a new trajectory)."""
        self._fixed = None

    def sample_probes(self, x: torch.Tensor, num: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` fresh probes per sample, shape (num, B, *event), from the configured distribution."""
        shape = (num, *x.shape)
        if self.distribution == "gaussian":
            return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
        signs = torch.randint(0, 2, shape, generator=generator, device=x.device)
        return (2 * signs - 1).to(x.dtype)

    def trace(
        self,
        func: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        *,
        create_graph: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        probes = self._probes_for(x, generator)
        with torch.enable_grad():
            x_in, fx = evaluate(func, x, create_graph=create_graph)
            total = fx.new_zeros(x.shape[0])
            for k, eps in enumerate(probes):
                last = k == self.num_probes - 1
                (grad,) = vjp(
                    fx, x_in, eps.unsqueeze(0), create_graph=create_graph, retain_graph=create_graph or not last
                )
                total = total + batch_sum(grad * eps)
        return finish(fx, total / self.num_probes, create_graph=create_graph)

    def _probes_for(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if not self.fixed_probe:
            return self.sample_probes(x, self.num_probes, generator=generator)
        fixed = self._fixed
        if fixed is None or fixed.shape[1:] != x.shape or fixed.dtype != x.dtype or fixed.device != x.device:
            self._fixed = fixed = self.sample_probes(x, self.num_probes, generator=generator)
        return fixed
