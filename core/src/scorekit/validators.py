"""attrs validators whose errors name the field; the config loader adds the path (``@ $.loss.sigma``).

Sizes have upper bounds as well as lower ones (:func:`bounded`), each named in the message of a value
above it: generous for real use on a large GPU, far below what would exhaust its memory, so that a
slip such as ``hidden = 1000000000000000`` is a one-line error, not an allocation that fails.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = [
    "MAX_BATCH",
    "MAX_DEPTH",
    "MAX_DIM",
    "MAX_IMAGE_SIDE",
    "MAX_LR",
    "MAX_MODES",
    "MAX_POINTS",
    "MAX_PROBES",
    "MAX_STEPS",
    "MAX_TRAIN_STEPS",
    "MAX_WEIGHTS",
    "MAX_WEIGHT_DECAY",
    "MAX_WIDTH",
    "FieldError",
    "at_least",
    "at_most",
    "bounded",
    "check_weights",
    "decreasing",
    "even",
    "finite",
    "in_range",
    "one_of",
    "positive",
    "seed",
]

#: Units of a layer: hidden units, channels, embedding features, groups.
MAX_WIDTH = 65_536
#: Layers of a network, residual blocks of a level.
MAX_DEPTH = 1_000
#: Weights of one network, as estimated (from below) from its widths and depth: 4 GB as float32.
MAX_WEIGHTS = 10**9
#: Points of a data set (num_train, num_heldout, max_images), samples drawn, points evaluated.
MAX_POINTS = 10**8
#: Dimensions of a synthetic data set.
MAX_DIM = 2**20
#: Components of a mixture (as many as the classes a labelled data set may have).
MAX_MODES = 100_000
#: Points in one batch: batch_size, chunk_size.
MAX_BATCH = 2**20
#: Training steps.
MAX_TRAIN_STEPS = 10**9
#: Steps and levels of a sampler, solver or noise schedule.
MAX_STEPS = 10**6
#: Probes, projections and basis vectors per sample of a trace estimator.
MAX_PROBES = 65_536
#: Learning rate: larger ones diverge at once, and 1e38 would overflow float32.
MAX_LR = 10.0
#: Weight decay (an L2 penalty added to the gradient).
MAX_WEIGHT_DECAY = 10.0
#: Height and width of an image, read or resized to.
MAX_IMAGE_SIDE = 4096

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


class FieldError(ValueError):
    """A field's value is out of range; ``field`` is the attribute name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check(predicate: Callable[[Any], bool], describe: str) -> Validator:
    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not predicate(value):
            raise FieldError(attribute.name, f"{describe}, got {value!r}")

    return validate


#: The range of positive normal float32 numbers: a σ, a std or a rate outside it underflows to 0 or
#: overflows to inf in the float32 the engine computes in.
FLOAT32_TINY, FLOAT32_MAX = 1.1754943508222875e-38, 3.4028234663852886e38


def _float32_positive(v: float) -> bool:
    return math.isfinite(v) and FLOAT32_TINY <= v <= FLOAT32_MAX


def positive() -> Validator:
    """A finite number > 0 that float32 represents as one (not 1e-300, which is 0 there)."""
    above_zero = _check(lambda v: math.isfinite(v) and v > 0, "must be a finite number > 0")
    representable = _check(_float32_positive, "must lie within float32's range of positive numbers, 1.2e-38 to 3.4e38")

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        above_zero(instance, attribute, value)
        representable(instance, attribute, value)

    return validate


def at_least(minimum: float) -> Validator:
    return _check(lambda v: v >= minimum, f"must be ≥ {minimum}")


def in_range(low: float, high: float) -> Validator:
    return _check(lambda v: low <= v <= high, f"must be in [{low}, {high}]")


def _limit(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _shown(value: Any) -> str:
    """A value for a message: a huge integer as 1e+20, not twenty digits."""
    huge = isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12
    return f"{value:.3g}" if huge else repr(value)


def at_most(maximum: float, what: str) -> Validator:
    """≤ ``maximum``, whose message names the limit: "must be ≤ 65,536 (the limit on network widths), got 1e+15"."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not value <= maximum:
            raise FieldError(attribute.name, f"must be ≤ {_limit(maximum)} (the limit on {what}), got {_shown(value)}")

    return validate


def bounded(minimum: float, maximum: float, what: str) -> Validator:
    """:func:`at_least` ``minimum`` and :func:`at_most` ``maximum`` (the limit on ``what``)."""
    low, high = at_least(minimum), at_most(maximum, what)

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        low(instance, attribute, value)
        high(instance, attribute, value)

    return validate


def check_weights(field: str, weights: int, description: str) -> None:
    """Refuse a network of more than MAX_WEIGHTS weights: ``weights`` estimated from below, as ``description`` says."""
    if weights > MAX_WEIGHTS:
        raise FieldError(
            field, f"{description} makes at least {weights:.3g} weights, more than the limit of {MAX_WEIGHTS:,}"
        )


def finite() -> Validator:
    return _check(lambda v: math.isfinite(v), "must be finite")


def one_of(*choices: str) -> Validator:
    return _check(lambda v: v in choices, f"must be one of {', '.join(map(repr, choices))}")


def numpy_float32(value: float) -> float:
    """``value`` rounded to float32 (the engine's dtype), without importing numpy or torch here."""
    import struct

    return float(struct.unpack("f", struct.pack("f", value))[0])


def decreasing() -> Validator:
    """Strictly decreasing, all finite and > 0 (a σ₁ > … > σ_L list)."""

    def ok(values: Sequence[float]) -> bool:
        return (
            len(values) > 0
            and all(isinstance(v, int | float) and _float32_positive(v) for v in values)
            and all(a > b for a, b in itertools.pairwise(values))
            and all(a > b for a, b in itertools.pairwise([float(numpy_float32(v)) for v in values]))
        )

    return _check(
        ok,
        "must be a non-empty, strictly decreasing list of finite numbers > 0 (within float32's range, "
        "1.2e-38 to 3.4e38, and still decreasing in float32)",
    )


def seed() -> Validator:
    """A seed torch accepts: an integer in [0, 2⁶³)."""
    return _check(lambda v: 0 <= v < 2**63, "must be an integer in [0, 2**63)")


def even() -> Validator:
    return _check(lambda v: v % 2 == 0, "must be even")
