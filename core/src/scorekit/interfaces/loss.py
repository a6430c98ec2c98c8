"""Loss: a score matching objective, minimized by the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from scorekit.errors import ConfigError
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
        """The scalar loss on the batch ``x0`` (B, *event)."""
