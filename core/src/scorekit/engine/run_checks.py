"""What a Run checks before it trains or samples: conversions, labels, resumability, the sampler's start.

A mixin of :class:`scorekit.engine.run.Run`; every check raises (or warns) in one line before anything
is written.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from scorekit._registry import Registry
from scorekit.config import RunConfig, config_changes
from scorekit.data.sources import DataBundle
from scorekit.engine.checkpoint import Checkpoint
from scorekit.engine.prior import PriorMismatchWarning, prior_mismatch
from scorekit.errors import CheckpointError, ConfigError, UserError
from scorekit.interfaces import Likelihood, Loss, NoiseSchedule, Sampler, ScoreModel
from scorekit.parametrization import view_for

__all__ = ["RunChecks"]


class RunChecks:
    """Run's checks (a mixin; the attributes below are Run's)."""

    config: RunConfig
    registry: Registry
    run_dir: Path
    loss: Loss
    schedule: NoiseSchedule | None
    sampler: Sampler | None
    likelihood: Likelihood | None

    @property
    def data(self) -> DataBundle:
        raise NotImplementedError

    def check_resumable(self, checkpoint: Checkpoint) -> None:
        """Raise UserError unless this run's config is the one ``checkpoint`` was trained with, up to
        ``train.steps`` (and the progress switch): the config stored in the checkpoint, not the editable
        config.toml, decides."""
        from scorekit.config import load_config

        stored = checkpoint.meta.get("config")
        if not isinstance(stored, dict):
            raise CheckpointError(f"{self.run_dir}: the checkpoint at step {checkpoint.step} holds no config")
        try:
            saved = load_config(stored, self.registry)
        except UserError as exc:
            raise CheckpointError(
                f"{self.run_dir}: the config stored in the checkpoint at step {checkpoint.step} is invalid ({exc})"
            ) from None
        changed = config_changes(saved, self.config, ignore=("train.steps", "train.progress"))
        if changed:
            raise UserError(
                f"{self.run_dir}: the config differs from the one its checkpoint (step {checkpoint.step}) was trained "
                f"with in {', '.join(changed)}; a resumed run may change only train.steps"
            )

    def check_predictions(self, model: ScoreModel) -> None:
        """Raise ConfigError unless the model's prediction converts to what the loss, sampler and likelihood consume."""
        view_for(model, self.loss, self.schedule)
        for component in (self.sampler, self.likelihood):
            if component is not None:
                view_for(model, component, self.schedule)

    def check_labels(self, model: ScoreModel, data: DataBundle) -> None:
        """Raise ConfigError unless a class-conditional model has labelled data within its classes."""
        if not model.num_classes:
            return
        if data.train_labels is None:
            raise ConfigError(
                f"the model is class-conditional ({model.num_classes} classes) but the data kind "
                f"{self.config.data.name!r} has no labels (labelled: the Gaussian mixtures, by component; digits; "
                "file with labels_path or labels_key); set model.classes = 0 for an unconditional model "
                "@ $.model.classes"
            )
        if data.num_classes > model.num_classes:
            raise ConfigError(
                f"the data has labels 0 to {data.num_classes - 1} but the model has {model.num_classes} classes; "
                f"set model.classes = {data.num_classes} @ $.model.classes"
            )

    def check_prior(self) -> str | None:
        """Warn (:class:`PriorMismatchWarning`, one line) if the sampler's start does not fit the training data.

        Returns the message, or None when the start fits or the sampler does not start from a Gaussian.
        """
        if self.sampler is None:
            return None
        message = prior_mismatch(self.sampler, self.schedule, self.data.train)
        if message is not None:
            warnings.warn(message, PriorMismatchWarning, stacklevel=2)
        return message
