"""Configs of the adjoint_ode plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import math

import attrs

from scorekit.config import Component, nested_component
from scorekit.validators import MAX_STEPS, FieldError, at_least, bounded, in_range, positive

__all__ = ["AdaptiveConfig", "AdjointConfig", "FixedStepConfig"]

_optional_positive = positive()  # None passes every scorekit validator


def _positive_or_inf(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if math.isnan(value) or value <= 0:
        raise FieldError(attribute.name, f"must be > 0 (inf for no limit), got {value!r}")


@attrs.frozen(kw_only=True)
class FixedStepConfig:
    """A fixed-step solver: ``steps`` equal steps over the whole span, or steps of ``step_size``.

    Either way every output time is hit exactly: each interval between output times gets a whole
    number of equal steps (at least one). With neither set, 100 steps over the span.
    """

    steps: int | None = attrs.field(default=None, validator=bounded(1, MAX_STEPS, "solver steps"))
    step_size: float | None = attrs.field(default=None, validator=_optional_positive)

    def __attrs_post_init__(self) -> None:
        if self.steps is not None and self.step_size is not None:
            raise FieldError("step_size", "set steps or step_size, not both")


@attrs.frozen(kw_only=True)
class AdaptiveConfig:
    """An adaptive solver: steps chosen so that the local error stays below atol + rtol·|y|.

    The solve fails with a clear error, instead of hanging, when it needs more than ``max_steps``
    steps or a step shorter than ``min_step``.
    """

    rtol: float = attrs.field(default=1e-5, validator=positive())
    atol: float = attrs.field(default=1e-5, validator=positive())
    #: The first step; None picks it from the dynamics (Hairer & Wanner), one extra evaluation.
    first_step: float | None = attrs.field(default=None, validator=_optional_positive)
    min_step: float = attrs.field(default=0.0, validator=at_least(0.0))
    max_step: float = attrs.field(default=math.inf, validator=_positive_or_inf)
    max_steps: int = attrs.field(default=10_000, validator=bounded(1, MAX_STEPS, "solver steps"))
    #: Step-size controller: h ← h·min(ifactor, max(dfactor, safety·ratio^(−1/order))).
    safety: float = attrs.field(default=0.9, validator=in_range(0.1, 1.0))
    ifactor: float = attrs.field(default=10.0, validator=at_least(1.0))
    dfactor: float = attrs.field(default=0.2, validator=in_range(0.01, 1.0))


@attrs.frozen(kw_only=True)
class AdjointConfig:
    """Gradients by the adjoint method: memory independent of the number of steps.

    The forward pass runs ``solver`` without recording a graph; the backward pass solves the adjoint
    system [z, a_z, a_θ] backward in time with the same kind of solver, at ``backward_rtol`` /
    ``backward_atol`` (None: the forward tolerances). ``seminorm`` leaves a_θ out of the backward
    error control (Kidger, Chen & Lyons 2021): fewer backward steps, a_θ being a quadrature that
    never feeds back into the dynamics.
    """

    solver: Component = nested_component("solver", "dopri5")
    backward_rtol: float | None = attrs.field(default=None, validator=_optional_positive)
    backward_atol: float | None = attrs.field(default=None, validator=_optional_positive)
    seminorm: bool = False
