"""Loss: a score matching objective, minimized by the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces._convert import converting
from scorekit.interfaces.noise_schedule import NoiseSchedule
from scorekit.interfaces.score_model import ScoreModel

__all__ = ["Loss"]


class Loss(ABC):
    """A training objective L(θ) for a ScoreModel, estimated on a mini-batch.

    ``x0`` is a batch of clean data in model space, shape (B, *event) of any rank. Losses that
    perturb the data (denoising score matching, DDPM) use the run's ``schedule``; losses on the clean
    data (implicit or sliced score matching, σ = 0) ignore it. All randomness comes from
    ``generator`` so that a run is reproducible.

    Example::

        loss = registry.get("loss", "ncsn").build(config)
        value = loss(model, x0, schedule=schedule, generator=g)
        value.backward()
    """

    #: Whether the loss needs a NoiseSchedule; the runner checks that the config provides one.
    needs_schedule: ClassVar[bool] = True
    #: The prediction :meth:`__call__` expects from the model: "score", "epsilon", "x0", "v" or a
    #: model-specific one ("velocity"). The engine hands the loss a view of a model that predicts
    #: another kernel quantity (:func:`scorekit.parametrization.view_for`), so the loss computes its
    #: objective on this prediction whatever the network outputs, and never converts for itself. An
    #: instance may set its own from its config (DDPM's loss: ``prediction``). The base class wraps a
    #: subclass's ``__call__`` so that a direct call from Python converts the same way.
    parametrization: str = "score"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:  # every caller, the engine or a notebook, gets the conversion
            cls.__call__ = converting(cls.__dict__["__call__"])  # type: ignore[method-assign]

    def kernel_schedule(self, schedule: NoiseSchedule | None) -> NoiseSchedule | None:
        """The schedule whose kernel (a(t), s(t)) converts the model's prediction at the t this loss uses.

        The run's ``schedule`` by default. A loss that draws t from a schedule of its own returns that
        one (single-σ DSM); a loss on the clean data (t = 0, no kernel) returns None, so only a model
        that predicts :attr:`parametrization` itself can be trained with it (a clear ConfigError
        otherwise).
        """
        return schedule

    def check(self, schedule: NoiseSchedule | None) -> None:
        """Raise ConfigError (with a ``@ $.section`` path) if this loss cannot work with ``schedule``.

        Called when a run is set up, before any training, so a mismatch costs nothing. Overrides
        should call ``super().check(schedule)``.
        """
        if self.needs_schedule and schedule is None:
            raise ConfigError(f"{type(self).__name__} needs a [schedule] section @ $.schedule")

    @abstractmethod
    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The scalar loss on the batch ``x0`` (B, *event).

        ``model`` outputs :attr:`parametrization` (the engine's view when the network predicts
        another quantity); its ``parametrization`` attribute says so.
        """
