"""Sampler: draws samples from a trained ScoreModel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces._convert import converting
from scorekit.interfaces.noise_schedule import NoiseSchedule
from scorekit.interfaces.score_model import ScoreModel

__all__ = ["Sampler", "Start"]


@dataclass(frozen=True)
class Start:
    """Where :meth:`Sampler.sample` starts instead of its prior draw.

    ``x`` (N, *event), model space: the state at time ``t`` of the schedule's coordinates, or at the
    sampler's own first (noisiest) level when ``t`` is None — a given x_T, e.g. one that
    :meth:`Sampler.encode` returned. With ``t`` the sampler walks only the part of its grid below
    ``t`` (SDEdit, Meng et al. 2022: x_t = a(t)·x₀ + s(t)·ε of a picture x₀, then denoised from t).
    """

    x: torch.Tensor
    t: float | None = None


class Sampler(ABC):
    """A sampling procedure that turns a score model into samples of shape (N, *event).

    The engine calls :meth:`sample` under ``torch.no_grad`` once per chunk of at most
    ``chunk_size`` samples, on the model's device, with one generator for the whole call, so a
    seed reproduces the samples for a given chunk size. A direct call from Python runs the same
    way: the base class wraps a subclass's ``sample`` so that the model is converted to
    :attr:`parametrization` and no autograd graph is built (``type(s).sample.__wrapped__`` is the
    undecorated method, for differentiating through a sampler).

    Example::

        sampler = registry.get("sampler", "annealed_langevin").build(config)
        x = sampler.sample(model, (1000, 2), schedule=schedule, generator=g)
    """

    #: Whether the sampler needs the run's NoiseSchedule (annealed samplers do).
    needs_schedule: ClassVar[bool] = True
    #: The prediction :meth:`sample` expects from the model: "score", "epsilon", "x0", "v" or a
    #: model-specific one ("velocity"). The engine hands it a view of a model that predicts another
    #: kernel quantity (:func:`scorekit.parametrization.as_parametrization`).
    parametrization: ClassVar[str] = "score"

    #: Whether :meth:`sample` takes ``start=`` (a :class:`Start`); the engine refuses a start otherwise.
    accepts_start: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("sample", "encode"):  # called from Python as the engine calls them: converted, no graph
            if name in cls.__dict__:
                setattr(cls, name, converting(cls.__dict__[name], no_grad=True))

    def check(self, schedule: NoiseSchedule | None) -> None:
        """Raise ConfigError (with a ``@ $.section`` path) if this sampler cannot work with ``schedule``.

        Called when a run is set up, before any training, so a mismatch costs nothing. Overrides
        should call ``super().check(schedule)``.
        """
        if self.needs_schedule and schedule is None:
            raise ConfigError(f"{type(self).__name__} needs a [schedule] section @ $.schedule")

    def num_evaluations(self, schedule: NoiseSchedule | None) -> int | None:
        """How many times :meth:`sample` calls the model, when that is known in advance; None otherwise.

        The engine counts the evaluations it sees and shows them against this number as progress
        (with an estimate of the time left); an adaptive sampler returns None and is shown by count.
        """
        return None

    def prior_std(self, schedule: NoiseSchedule | None) -> float | None:
        """The std of the N(0, std²I) that :meth:`sample` must start from to be right; None if none.

        Samplers that transport their start (the reverse SDE, ODE samplers, ancestral sampling)
        return it: a start that misses the noisiest marginal p_t₁ biases their samples, and a start
        at √(a₁² + s₁²) fits only standardized data. The engine compares it with the run's data and
        warns when they do not fit (:func:`scorekit.engine.prior.prior_mismatch`). Samplers that mix
        at the first level (annealed Langevin) need not return one.
        """
        return None

    @abstractmethod
    def sample(
        self,
        model: ScoreModel,
        shape: tuple[int, ...],
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw ``shape[0]`` samples of event shape ``shape[1:]``.

        A sampler that sets :attr:`accepts_start` also takes ``start: Start | None = None`` and then
        begins from ``start.x`` instead of its prior draw (see :class:`Start`); the engine passes it
        only when one is given, so samplers without it need no change.
        """

    def can_encode(self) -> bool:
        """Whether :meth:`encode` is implemented (deterministic samplers: an ODE, DDIM with η = 0)."""
        return type(self).encode is not Sampler.encode

    def encode(self, model: ScoreModel, x: torch.Tensor, *, schedule: NoiseSchedule | None) -> torch.Tensor:
        """The x_T (model space, shape of ``x``) from which :meth:`sample` with ``start=Start(x_T)``
        returns ``x``: the sampler's map run backwards (the probability-flow ODE from the data to T, DDIM
        inversion). Only deterministic samplers can; the default raises ConfigError."""
        raise ConfigError(
            f"the sampler {type(self).__name__} cannot encode (its map from noise to data is not deterministic); "
            "probability_flow and ddim with eta = 0 can @ $.sampler.kind"
        )
