"""Conformance checks for NoiseSchedule."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from scorekit.interfaces import NoiseSchedule
from scorekit.testing._common import (
    _STANDARD_ERRORS,
    DTYPES,
    _require,
    _seeded,
)


def check_schedule(schedule: NoiseSchedule, *, num: int = 2048, dtypes: Sequence[torch.dtype] = DTYPES) -> None:
    """Check the NoiseSchedule contract.

    - ``levels()`` is 1-D, non-empty and finite, and s(t) is finite and > 0 on it and does not
      increase along it (noisiest first); a(t) is finite; ``std(t)`` is ``kernel(t)[1]``;
    - ``kernel(t)`` returns two tensors of shape (B,);
    - ``sample_t`` gives shape (B,) inside [min, max] of ``levels()`` (one of the levels when the
      schedule is not ``continuous``), the same values for the same seed;
    - ``perturb(x0, t)`` returns (x_t, ε) of x0's shape and dtype with x_t = a·x0 + s·ε, the same
      values for the same seed, and for a constant x0 a mean a·x0 and a standard deviation s within
      six standard errors, at the first, middle and last levels.

    Example::

        check_schedule(registry.get("schedule", "geometric").build(config))
    """
    name = type(schedule).__name__
    levels = schedule.levels()
    _require(isinstance(levels, torch.Tensor) and levels.ndim == 1, name, "levels() is not a 1-D tensor")
    _require(len(levels) > 0 and bool(torch.isfinite(levels).all()), name, f"levels() is empty or not finite: {levels}")
    a, s = schedule.kernel(levels)
    count = len(levels)
    _require(
        a.shape == (count,) and s.shape == (count,), name, f"kernel(t) of shape ({count},) gave {a.shape}, {s.shape}"
    )
    _require(bool(torch.isfinite(a).all()), name, f"a(t) is not finite on levels(): {a}")
    _require(bool(torch.isfinite(s).all() and (s > 0).all()), name, f"s(t) is not finite and positive on levels(): {s}")
    _require(bool((s[1:] <= s[:-1]).all()), name, f"levels() is not ordered from the noisiest to the cleanest: s = {s}")
    _require(torch.equal(schedule.std(levels), s), name, "std(t) differs from kernel(t)[1]")

    t = _seeded(lambda g: schedule.sample_t(num, generator=g), seed=0, global_seed=1)
    _require(t.shape == (num,), name, f"sample_t({num}) returned shape {tuple(t.shape)}")
    _require(
        torch.equal(t, _seeded(lambda g: schedule.sample_t(num, generator=g), seed=0, global_seed=2)),
        name,
        "sample_t gave different levels for the same generator seed",
    )
    low, high = levels.min().item(), levels.max().item()
    slack = 1e-6 * max(abs(low), abs(high))
    _require(
        bool(((t >= low - slack) & (t <= high + slack)).all()),
        name,
        f"sample_t drew levels in [{t.min().item():.6g}, {t.max().item():.6g}], outside [{low:.6g}, {high:.6g}]",
    )
    if not schedule.continuous:
        _require(bool(torch.isin(t, levels.to(t.dtype)).all()), name, "sample_t drew a t that is not in levels()")

    c = 0.5
    for index in sorted({0, count // 2, count - 1}):
        level = levels[index]
        for dtype in dtypes:
            where = f"t = {level.item():.6g}, {dtype}"
            x0 = torch.full((num, 2), c, dtype=dtype)
            tt = level.expand(num)
            perturb = functools.partial(_perturb, schedule, x0, tt)
            x_t, eps = _seeded(perturb, seed=0, global_seed=1)
            _require(x_t.shape == x0.shape and eps.shape == x0.shape, name, f"perturb returned a wrong shape ({where})")
            _require(x_t.dtype == dtype, name, f"perturb returned x_t in {x_t.dtype} for {dtype} input ({where})")
            again, _ = _seeded(perturb, seed=0, global_seed=2)
            _require(torch.equal(x_t, again), name, f"perturb gave different x_t for the same generator seed ({where})")
            a_l, s_l = (v[index].item() for v in (a, s))
            closed = a_l * c + s_l * eps.double()
            _require(
                torch.allclose(x_t.double(), closed, rtol=1e-5, atol=1e-5 * (abs(a_l * c) + s_l)),
                name,
                f"perturb's x_t is not a·x0 + s·ε ({where})",
            )
            n = x_t.numel()
            mean, std = x_t.double().mean().item(), x_t.double().std().item()
            _require(
                abs(mean - a_l * c) <= _STANDARD_ERRORS * s_l / math.sqrt(n),
                name,
                f"perturb's mean is {mean:.6g}, expected a·x0 = {a_l * c:.6g} ({where})",
            )
            _require(
                abs(std - s_l) <= _STANDARD_ERRORS * s_l / math.sqrt(2 * n),
                name,
                f"perturb's standard deviation is {std:.6g}, expected s = {s_l:.6g} ({where})",
            )


def _perturb(
    schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    return schedule.perturb(x0, t, generator=g)
