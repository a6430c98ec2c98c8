"""The conformance kit: the interfaces' contracts as reusable checks for plugin authors.

Each ``check_*`` function runs one component against the contract its interface's docstring
states and raises ``AssertionError`` naming the component and the broken promise, so it works
inside pytest and outside it. The checks are fast (tiny batches, a tiny :class:`ReferenceScoreModel`)
and deterministic: every random draw comes from a seeded generator, and the global RNG is left as
it was. Statistical checks compare with a closed form within six standard errors.

Example::

    from scorekit import load_registry
    from scorekit.testing import check_config_round_trip, check_loss

    registry = load_registry()
    loss = check_config_round_trip(registry, "loss", "my_loss", {"sigma": 0.5})
    check_loss(loss)
"""

from __future__ import annotations

from scorekit.testing._common import ReferenceScoreModel
from scorekit.testing.conditioning import check_conditioning
from scorekit.testing.configs import check_config_round_trip
from scorekit.testing.devices import check_device
from scorekit.testing.losses import check_loss
from scorekit.testing.samplers import check_sampler
from scorekit.testing.schedules import check_schedule
from scorekit.testing.trace_estimators import check_trace_estimator

__all__ = [
    "ReferenceScoreModel",
    "check_conditioning",
    "check_config_round_trip",
    "check_device",
    "check_loss",
    "check_sampler",
    "check_schedule",
    "check_trace_estimator",
]
