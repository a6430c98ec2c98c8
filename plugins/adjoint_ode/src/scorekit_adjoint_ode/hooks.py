"""Entry point of the adjoint_ode plugin. Light on purpose: no torch import at discovery."""

from __future__ import annotations

from scorekit import RegisterComponent, hookimpl
from scorekit_adjoint_ode.config import AdaptiveConfig, AdjointConfig, FixedStepConfig

_SOLVERS = (
    ("euler", "Euler", FixedStepConfig, "forward Euler, order 1, fixed steps"),
    ("midpoint", "Midpoint", FixedStepConfig, "explicit midpoint, order 2, fixed steps"),
    ("rk4", "RK4", FixedStepConfig, "classical Runge–Kutta, order 4, fixed steps"),
    ("bosh3", "Bosh3", AdaptiveConfig, "Bogacki–Shampine 3(2), adaptive steps"),
    ("dopri5", "Dopri5", AdaptiveConfig, "Dormand–Prince 5(4), adaptive steps, dense output"),
)


@hookimpl
def scorekit_register_components(register: RegisterComponent) -> None:
    for name, cls, config, summary in _SOLVERS:
        register("solver", name, factory=f"scorekit_adjoint_ode.solvers:{cls}", config=config, summary=summary)
    register(
        "solver",
        "adjoint",
        factory="scorekit_adjoint_ode.adjoint:Adjoint",
        config=AdjointConfig,
        summary="gradients of any solver by the adjoint method: memory flat in the number of steps",
    )
