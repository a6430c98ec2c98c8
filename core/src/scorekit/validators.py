"""attrs validators whose errors name the field; the config loader adds the path (``@ $.loss.sigma``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["FieldError", "at_least", "decreasing", "even", "finite", "in_range", "one_of", "positive", "seed"]

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


def positive() -> Validator:
    return _check(lambda v: math.isfinite(v) and v > 0, "must be a finite number > 0")


def at_least(minimum: float) -> Validator:
    return _check(lambda v: v >= minimum, f"must be ≥ {minimum}")


def in_range(low: float, high: float) -> Validator:
    return _check(lambda v: low <= v <= high, f"must be in [{low}, {high}]")


def finite() -> Validator:
    return _check(lambda v: math.isfinite(v), "must be finite")


def one_of(*choices: str) -> Validator:
    return _check(lambda v: v in choices, f"must be one of {', '.join(map(repr, choices))}")


def decreasing() -> Validator:
    """Strictly decreasing, all finite and > 0 (a σ₁ > … > σ_L list)."""

    def ok(values: Sequence[float]) -> bool:
        return (
            len(values) > 0
            and all(math.isfinite(v) and v > 0 for v in values)
            and all(a > b for a, b in itertools.pairwise(values))
        )

    return _check(ok, "must be a non-empty, strictly decreasing list of finite numbers > 0")


def seed() -> Validator:
    """A seed torch accepts: an integer in [0, 2⁶³)."""
    return _check(lambda v: 0 <= v < 2**63, "must be an integer in [0, 2**63)")


def even() -> Validator:
    return _check(lambda v: v % 2 == 0, "must be even")
