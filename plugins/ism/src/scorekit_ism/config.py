"""Config of the ism plugin (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.config import Component, nested_component

__all__ = ["ISMConfig"]


@attrs.frozen(kw_only=True)
class ISMConfig:
    """Implicit score matching with the trace of ∇ₓs from a registered TraceEstimator (exact by default)."""

    estimator: Component = nested_component("trace_estimator", "exact")
