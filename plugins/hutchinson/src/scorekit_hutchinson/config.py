"""Config classes of the hutchinson plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import MAX_PROBES, bounded, one_of

__all__ = ["ExactTraceConfig", "HutchinsonConfig"]


@attrs.frozen(kw_only=True)
class ExactTraceConfig:
    """tr ∂f/∂x = Σᵢ eᵢᵀ(∂f/∂x)eᵢ over the d event dimensions: d vector–Jacobian products."""

    #: Basis vectors eᵢ pushed through one vmapped backward pass; the pass holds that many copies of
    #: the backward's intermediates. 1 runs a plain loop of backward passes, for networks whose double
    #: backward has no vmap batching rule (GroupNorm with create_graph, as of torch 2.13).
    vjps_per_pass: int = attrs.field(default=64, validator=bounded(1, MAX_PROBES, "vectors per pass"))


@attrs.frozen(kw_only=True)
class HutchinsonConfig:
    """tr ∂f/∂x ≈ (1/K)·Σₖ εₖᵀ(∂f/∂x)εₖ with K independent probes, E[ε] = 0, Cov(ε) = I."""

    #: K, the probes per sample (one vector–Jacobian product each); the variance falls as 1/K.
    probes: int = attrs.field(default=1, validator=bounded(1, MAX_PROBES, "probes per sample"))
    #: "rademacher": entries ±1, the least variance of any i.i.d. probe; "gaussian": N(0, I).
    distribution: str = attrs.field(default="rademacher", validator=one_of("rademacher", "gaussian"))
    #: Draw the probes once and reuse them until reset(), as an ODE solve along one trajectory needs
    #: (FFJORD); new ones are drawn when the shape, dtype or device of x changes.
    fixed_probe: bool = False
