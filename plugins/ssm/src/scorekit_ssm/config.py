"""Config of the ssm plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.config import Component, nested_component
from scorekit.validators import MAX_PROBES, bounded

__all__ = ["SSMConfig"]


@attrs.frozen(kw_only=True)
class SSMConfig:
    """Sliced score matching with ``projections`` random directions per sample.

    The directions are the probes of the configured TraceEstimator (Rademacher by default).
    """

    projections: int = attrs.field(default=1, validator=bounded(1, MAX_PROBES, "probes per sample"))
    estimator: Component = nested_component("trace_estimator", "hutchinson", distribution="rademacher")
