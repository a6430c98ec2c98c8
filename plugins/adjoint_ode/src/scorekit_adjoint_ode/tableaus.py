"""Butcher tableaus of the explicit Runge–Kutta methods (Hairer, Nørsett & Wanner, Solving ODEs I)."""

from __future__ import annotations

import attrs

__all__ = ["BOSH3", "DOPRI5", "EULER", "MIDPOINT", "RK4", "Tableau"]


@attrs.frozen
class Tableau:
    """An explicit RK method: stage i at t + c[i]·h from y + h·Σ_j a[i][j]·k_j; y₁ = y + h·Σ b_j k_j.

    ``error`` holds b − b̂ (the embedded lower-order pair) for adaptive methods. ``fsal`` ("first
    same as last") means the last stage is evaluated at y₁, so it is the next step's first stage.
    ``mid`` holds the weights of y(t + h/2) for dense output (Dormand–Prince only).
    """

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    error: tuple[float, ...] | None = None
    fsal: bool = False
    mid: tuple[float, ...] | None = None

    def __attrs_post_init__(self) -> None:
        stages = len(self.c)
        if len(self.a) != stages or any(len(row) != i for i, row in enumerate(self.a)):
            raise ValueError(f"{self.name}: a must be strictly lower triangular with {stages} rows")
        for i, row in enumerate(self.a):
            if abs(sum(row) - self.c[i]) > 1e-12:
                raise ValueError(f"{self.name}: row {i} of a does not sum to c[{i}]")
        if len(self.b) != stages or abs(sum(self.b) - 1.0) > 1e-12:
            raise ValueError(f"{self.name}: b must have {stages} weights summing to 1")
        if self.error is not None and (len(self.error) != stages or abs(sum(self.error)) > 1e-12):
            raise ValueError(f"{self.name}: error weights b − b̂ must have {stages} entries summing to 0")
        if self.fsal and (self.a[-1] + (0.0,) != self.b or self.c[-1] != 1.0):
            raise ValueError(f"{self.name}: an FSAL method's last stage must be at y₁")

    @property
    def stages(self) -> int:
        return len(self.c)


EULER = Tableau(name="euler", order=1, c=(0.0,), a=((),), b=(1.0,))

MIDPOINT = Tableau(name="midpoint", order=2, c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))

RK4 = Tableau(
    name="rk4",
    order=4,
    c=(0.0, 0.5, 0.5, 1.0),
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
)

# Bogacki & Shampine (1989): order 3 with an embedded order-2 estimate, FSAL.
BOSH3 = Tableau(
    name="bosh3",
    order=3,
    c=(0.0, 0.5, 0.75, 1.0),
    a=((), (0.5,), (0.0, 0.75), (2 / 9, 1 / 3, 4 / 9)),
    b=(2 / 9, 1 / 3, 4 / 9, 0.0),
    error=(2 / 9 - 7 / 24, 1 / 3 - 1 / 4, 4 / 9 - 1 / 3, -1 / 8),
    fsal=True,
)

# Dormand & Prince (1980): order 5, FSAL. The embedded order-4 solution is Shampine's (1986), as in
# torchdiffeq's dopri5, so that step sequences match those users' expectations; Hairer's DOPRI5 and
# SciPy's RK45 use b̂ = (5179/57600, 0, 7571/16695, 393/640, −92097/339200, 187/2100, 1/40), whose
# error estimate is larger (smaller steps at the same tolerance). ``mid`` is Shampine's y(t + h/2)
# for the quartic dense output.
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (1951 / 21600, 0.0, 22642 / 50085, 451 / 720, -12231 / 42400, 649 / 6300, 1 / 60)
DOPRI5 = Tableau(
    name="dopri5",
    order=5,
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    a=(
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        _B5[:6],
    ),
    b=_B5,
    error=tuple(p - q for p, q in zip(_B5, _B4, strict=True)),
    fsal=True,
    mid=(
        6025192743 / 30085553152 / 2,
        0.0,
        51252292925 / 65400821598 / 2,
        -2691868925 / 45128329728 / 2,
        187940372067 / 1594534317056 / 2,
        -1776094331 / 19743644256 / 2,
        11237099 / 235043384 / 2,
    ),
)
