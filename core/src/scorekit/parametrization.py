"""What a network predicts, and how one prediction becomes another through the kernel (a, s).

A model of x_t = a(t)·x₀ + s(t)·ε can predict any of four equivalent quantities; given x_t and
the schedule's (a, s) each determines the others (Ho et al. 2020; Salimans & Ho 2022):

=========  =================================  =====================================
name       the network's output               as ε
=========  =================================  =====================================
score      ∇log p_t(x_t) ≈ −ε/s               ε = −s·score
epsilon    ε                                  ε
x0         x₀ = (x_t − s·ε)/a                 ε = (x_t − a·x̂₀)/s
v          v = a·ε − s·x₀                     ε = (a·v + s·x_t)/(a² + s²)
=========  =================================  =====================================

(``v`` is Salimans & Ho's velocity for a² + s² = 1; the formula above holds for any a, s.) A
model declares its own in :attr:`ScoreModel.parametrization`; a loss, sampler or likelihood declares
the one it consumes (its ``parametrization``), and the engine hands it the model through
:func:`view_for`, the one conversion point: an ε-network drives a Langevin sampler (which wants the
score), a score network drives DDPM's ancestral sampler (which wants ε), and a loss computes its
objective on the prediction it declares whatever the network outputs. No component converts for
itself. A CNF's "velocity" is no function of ε and converts to nothing.
"""

from __future__ import annotations

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces.likelihood import Likelihood
from scorekit.interfaces.loss import Loss
from scorekit.interfaces.noise_schedule import NoiseSchedule
from scorekit.interfaces.sampler import Sampler
from scorekit.interfaces.score_model import ScoreModel
from scorekit.tensors import append_dims

__all__ = [
    "KERNEL_PARAMETRIZATIONS",
    "Reparametrized",
    "as_parametrization",
    "convert",
    "view_for",
]

#: Predictions that are functions of (x_t, ε) through the kernel, hence of one another.
KERNEL_PARAMETRIZATIONS = ("score", "epsilon", "x0", "v")
#: The two that turn into each other through s alone: ε = −s·score.
_NOISE = ("score", "epsilon")


def _to_epsilon(output: torch.Tensor, source: str, x_t: torch.Tensor, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    if source == "epsilon":
        return output
    if source == "score":
        return -s * output
    if source == "x0":
        return (x_t - a * output) / s
    return (a * output + s * x_t) / (a * a + s * s)  # v


def _from_epsilon(eps: torch.Tensor, target: str, x_t: torch.Tensor, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    if target == "epsilon":
        return eps
    if target == "score":
        return -eps / s
    x0 = (x_t - s * eps) / a
    return x0 if target == "x0" else a * eps - s * x0


def convert(
    output: torch.Tensor,
    x_t: torch.Tensor,
    a: torch.Tensor | None,
    s: torch.Tensor,
    *,
    source: str,
    target: str,
) -> torch.Tensor:
    """A ``source`` prediction at x_t turned into the ``target`` one; ``a``, ``s`` of shape (B,).

    Score ↔ ε needs s alone: ``a`` may then be None (the training hot path skips computing it).
    """
    for name in (source, target):
        if name not in KERNEL_PARAMETRIZATIONS:
            raise ValueError(f"unknown parametrization {name!r}; expected one of {', '.join(KERNEL_PARAMETRIZATIONS)}")
    if source == target:
        return output
    s = append_dims(s.to(output.dtype), output)
    if source in _NOISE and target in _NOISE:
        return -s * output if source == "score" else -output / s
    if a is None:
        raise ValueError(f"converting {source!r} to {target!r} needs a(t)")
    a = append_dims(a.to(output.dtype), output)
    return _from_epsilon(_to_epsilon(output, source, x_t, a, s), target, x_t, a, s)


class Reparametrized(ScoreModel):
    """A view of ``model`` that outputs ``target`` instead of the model's own prediction.

    Holds the model (not a copy): parameters, device and ``event_shape`` are the model's.
    """

    def __init__(self, model: ScoreModel, target: str, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.model = model
        self.schedule = schedule
        self.target = target
        self.event_shape = model.event_shape

    @property
    def parametrization(self) -> str:  # type: ignore[override]
        return self.target

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        output = self.model(x, t)
        source = self.model.parametrization
        if source in _NOISE and self.target in _NOISE:  # s alone: the training hot path
            return convert(output, x, None, self.schedule.std(t), source=source, target=self.target)
        a, s = self.schedule.kernel(t)
        return convert(output, x, a, s, source=source, target=self.target)


def as_parametrization(
    model: ScoreModel, target: str, schedule: NoiseSchedule | None, *, consumer: str | None = None
) -> ScoreModel:
    """``model`` itself if it predicts ``target``, else a :class:`Reparametrized` view through ``schedule``.

    Raises ConfigError when no conversion exists: a different prediction without a schedule (the
    kernel is needed), or a prediction outside :data:`KERNEL_PARAMETRIZATIONS` (a CNF's velocity).
    ``consumer`` ("the loss 'ism'") names who needs ``target`` in the message. A model that declares
    no ``parametrization`` (a plain ``nn.Module`` or function) is taken to output ``target`` as it is.
    """
    source = getattr(model, "parametrization", None)
    if source is None or source == target:
        return model
    who = consumer or "this run"
    if source not in KERNEL_PARAMETRIZATIONS or target not in KERNEL_PARAMETRIZATIONS:
        raise ConfigError(f"{who} needs a model that predicts {target!r}; this one predicts {source!r} @ $.model")
    if schedule is None:
        hint = f'set prediction = "{target}" @ $.model.prediction'
        raise ConfigError(
            f"{who} needs the model's {target!r} but the model predicts {source!r}, and without a noise "
            f"kernel at the t it is evaluated at one cannot be turned into the other; {hint}"
        )
    return Reparametrized(model, target, schedule)


def view_for(model: ScoreModel, consumer: Loss | Sampler | Likelihood, schedule: NoiseSchedule | None) -> ScoreModel:
    """The model as ``consumer`` (a Loss, Sampler or Likelihood) declares it wants it: the one conversion point.

    ``consumer.parametrization`` names the prediction; the kernel that converts is the run's
    ``schedule``, or for a loss the one :meth:`Loss.kernel_schedule` names (single-σ DSM's own σ; None
    for objectives on the clean data, which then need a model of their own prediction). Raises
    ConfigError when no conversion exists. The engine calls it once per phase (training, sampling,
    likelihood); a component never converts for itself.
    """
    kernel = consumer.kernel_schedule(schedule) if isinstance(consumer, Loss) else schedule
    role = "loss" if isinstance(consumer, Loss) else "sampler" if isinstance(consumer, Sampler) else "likelihood"
    return as_parametrization(model, consumer.parametrization, kernel, consumer=f"the {role} {type(consumer).__name__}")
