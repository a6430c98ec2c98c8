"""Config of the ssm plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.config import Component, nested_component
from scorekit.validators import at_least

__all__ = ["SSMConfig"]


@attrs.frozen(kw_only=True)
class SSMConfig:
    """Sliced score matching with ``projections`` random directions per sample.

    The directions are the probes of the configured TraceEstimator (Rademacher by default).
    """

    projections: int = attrs.field(default=1, validator=at_least(1))
    estimator: Component = nested_component("trace_estimator", "hutchinson", distribution="rademacher")
