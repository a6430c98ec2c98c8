"""Likelihood: log p_θ(x) of a trained model, exactly or by an unbiased estimate."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch

from scorekit.errors import ConfigError
from scorekit.interfaces._convert import converting
from scorekit.interfaces.noise_schedule import NoiseSchedule
from scorekit.interfaces.score_model import ScoreModel

__all__ = ["Likelihood"]


class Likelihood(ABC):
    """The model's log-density at points x, in model space (the run's standardized coordinates).

    A continuous normalizing flow integrates [z, log p] with d log p/dt = −tr(∂f/∂z) from the data to
    its base distribution; a score model does the same along its probability-flow ODE. The engine
    adds the log-determinant of the standardization to report densities in data space.

    Example::

        likelihood = registry.get("likelihood", "cnf").build(config)
        log_p = likelihood.log_prob(model, x, schedule=None, generator=g)  # (B,)
    """

    #: Whether the likelihood needs the run's NoiseSchedule (probability-flow ODEs do).
    needs_schedule: bool = False
    #: The prediction :meth:`log_prob` expects from the model ("score" for the probability-flow ODE,
    #: "velocity" for a CNF); the engine hands it a converted view when the network predicts another
    #: kernel quantity (:func:`scorekit.parametrization.view_for`).
    parametrization: str = "score"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "log_prob" in cls.__dict__:  # a direct call from Python converts as the engine does
            cls.log_prob = converting(cls.__dict__["log_prob"])  # type: ignore[method-assign]

    def check(self, schedule: NoiseSchedule | None) -> None:
        """Raise ConfigError (with a ``@ $.section`` path) if this likelihood cannot work with ``schedule``."""
        if self.needs_schedule and schedule is None:
            raise ConfigError(f"{type(self).__name__} needs a [schedule] section @ $.schedule")

    @abstractmethod
    def log_prob(
        self,
        model: ScoreModel,
        x: torch.Tensor,
        *,
        schedule: NoiseSchedule | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log p_θ(x) per sample, shape (B,), for x of shape (B, *event) in model space."""
