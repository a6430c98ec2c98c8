"""Config of the template_dsm loss (attrs only: imported at plugin discovery)."""

from __future__ import annotations

import attrs

from scorekit.validators import positive

__all__ = ["TemplateDSMConfig"]


@attrs.frozen(kw_only=True)
class TemplateDSMConfig:
    """The keys of the run config's ``[loss]`` section besides ``kind``."""

    #: Noise level of the perturbation x̃ = x + σε; the model is conditioned on t = σ.
    sigma: float = attrs.field(default=0.1, validator=positive())
