"""Configs of the cnf plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.config import Component, nested_component
from scorekit.validators import MAX_DEPTH, MAX_WIDTH, bounded, check_weights, one_of, positive

__all__ = ["CNFLikelihoodConfig", "CNFLossConfig", "CNFMLPConfig", "CNFSamplerConfig"]


@attrs.frozen(kw_only=True)
class CNFMLPConfig:
    """The dynamics f(z, t; θ): an MLP with the time concatenated to the input of every layer."""

    hidden: int = attrs.field(default=64, validator=bounded(1, MAX_WIDTH, "network widths"))
    layers: int = attrs.field(default=3, validator=bounded(1, MAX_DEPTH, "network depths"))
    #: Smooth activations: the trace of ∂f/∂z, and its gradient in training, must be informative.
    activation: str = attrs.field(default="softplus", validator=one_of("softplus", "tanh", "silu", "gelu"))

    def __attrs_post_init__(self) -> None:
        weights = self.hidden * self.hidden * (self.layers - 1)  # the hidden×hidden layers
        check_weights("hidden", weights, f"hidden = {self.hidden} with layers = {self.layers}")


@attrs.frozen(kw_only=True)
class CNFLossConfig:
    """Maximum likelihood: −E log p_θ(x) through the augmented ODE from t = 0 (data) to t1 (base).

    Training defaults: eight fixed RK4 steps with backpropagation through them, and Hutchinson's
    estimator with one Rademacher probe held fixed along each solve (FFJORD). For gradients whose
    memory does not grow with the steps, use ``[loss.solver] kind = "adjoint"``.
    """

    t1: float = attrs.field(default=1.0, validator=positive())
    solver: Component = nested_component("solver", "rk4", steps=8)
    estimator: Component = nested_component(
        "trace_estimator", "hutchinson", distribution="rademacher", fixed_probe=True
    )


@attrs.frozen(kw_only=True)
class CNFLikelihoodConfig:
    """log p_θ(x) for evaluation and ``scorekit logprob``: adaptive steps and the exact trace."""

    t1: float = attrs.field(default=1.0, validator=positive())
    solver: Component = nested_component("solver", "dopri5", rtol=1e-5, atol=1e-5)
    estimator: Component = nested_component("trace_estimator", "exact")


@attrs.frozen(kw_only=True)
class CNFSamplerConfig:
    """Samples z(t1) ~ N(0, I) integrated back to t = 0."""

    t1: float = attrs.field(default=1.0, validator=positive())
    solver: Component = nested_component("solver", "dopri5", rtol=1e-5, atol=1e-5)
