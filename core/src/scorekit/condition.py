"""Conditioning: what a sample is conditioned on, and the view that hands it to a model.

A condition travels from the data (labels drawn with each batch) or from the caller of sampling
(``Run.sample(..., label=7)``) to the network, and to nothing else: losses, samplers and
likelihoods call ``model(x, t)`` as they always do. The engine hands them a :class:`Conditioned`
view of a conditional model with the batch's condition bound to it, the way it hands them a
:class:`~scorekit.parametrization.Reparametrized` view for the prediction they consume. So every
loss and every sampler, a third party's included, trains and samples conditional models unchanged,
and what later builds on the condition (classifier-free guidance, imputation) is another view
around the same model rather than a change to each sampler (docs/design.md, "Conditioning").

The rule a component must follow for this to hold: it evaluates the model on rows that are the
rows it was given (a loss on its batch, a sampler on its chains), in that order. A component that
evaluates the model on more or fewer rows gets a one-line :class:`~scorekit.errors.ConfigError`
naming it, instead of silently mismatched conditions.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

from scorekit.errors import ConfigError, UserError
from scorekit.interfaces.score_model import ScoreModel

__all__ = ["NO_LABEL", "Condition", "Conditioned", "Guided", "labels_from"]

#: The label of a row without one: the null condition of classifier-free guidance and label dropout.
NO_LABEL = -1


def _labels(instance: object, attribute: attrs.Attribute[torch.Tensor | None], value: torch.Tensor | None) -> None:
    if value is not None and (value.ndim != 1 or value.dtype != torch.int64):
        raise ValueError(
            f"Condition.labels must be an int64 tensor of shape (B,), got {value.dtype} {tuple(value.shape)}"
        )


@attrs.frozen(eq=False)
class Condition:
    """What each row of a batch is conditioned on.

    ``labels``: class labels, int64 of shape (B,), each in [0, num_classes) or :data:`NO_LABEL`.
    The one kind of condition today; masks and observed values for imputation are further optional
    fields of this class, bound and sliced by row the same way, so that every path that carries
    labels carries them.
    """

    labels: torch.Tensor | None = attrs.field(default=None, validator=_labels)

    def __len__(self) -> int:
        return 0 if self.labels is None else int(self.labels.shape[0])

    def rows(self, index: slice | torch.Tensor) -> Condition:
        """The condition of the rows ``index`` (a slice or an index tensor)."""
        return Condition(None if self.labels is None else self.labels[index])

    def to(self, device: torch.device | str) -> Condition:
        return Condition(None if self.labels is None else self.labels.to(device))

    def cat(self, other: Condition) -> Condition:
        """This condition's rows followed by ``other``'s (one batched forward pass for two conditions)."""
        if (self.labels is None) != (other.labels is None):
            raise ValueError("cannot concatenate a labelled condition with an unlabelled one")
        if self.labels is None or other.labels is None:
            return Condition()
        return Condition(torch.cat([self.labels, other.labels]))


class Conditioned(ScoreModel):
    """A view of a conditional ``model`` with ``condition`` bound: ``view(x, t) = model(x, t, condition=c)``.

    Holds the model, not a copy (parameters, ``parametrization`` and ``event_shape`` are the model's).
    The engine rebinds :attr:`condition` for every training batch and every sampling chunk; a
    forward pass on a number of rows other than the condition's raises ConfigError.
    """

    def __init__(self, model: Any, condition: Condition | None = None, *, consumer: str = "this component") -> None:
        super().__init__()
        self.model = model
        self.condition = condition if condition is not None else Condition()
        self.consumer = consumer
        self.event_shape = model.event_shape

    @property
    def parametrization(self) -> str:  # type: ignore[override]
        return str(self.model.parametrization)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        rows = len(self.condition)
        if x.shape[0] != rows:
            raise ConfigError(
                f"{self.consumer} evaluated the model on {x.shape[0]} rows for a batch of {rows}: a conditional "
                "model needs components that evaluate it once per row, in order (docs/design.md, 'Conditioning')"
            )
        return self.model(x, t, condition=self.condition)


class Guided(Conditioned):
    """Classifier-free guidance (Ho & Salimans 2022) as a view: f̃ = (1 + w)·f(x, t, y) − w·f(x, t, ∅).

    One forward pass on the doubled batch [x; x] with the labels [y; ∅] (∅ = :data:`NO_LABEL`) gives
    both terms. The combination is affine with weights summing to one, so it commutes with the
    engine's conversion between score, ε, x₀ and v: guiding the network's own output and converting
    after is the same as converting first. w = 0 is plain conditional sampling.
    """

    def __init__(
        self, model: Any, scale: float, condition: Condition | None = None, *, consumer: str = "this component"
    ) -> None:
        super().__init__(model, condition, consumer=consumer)
        self.scale = scale

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        rows = len(self.condition)
        if x.shape[0] != rows:
            return super().forward(x, t)  # the one-line error for components that change the rows
        labels = self.condition.labels
        assert labels is not None
        both = Condition(torch.cat([labels, torch.full_like(labels, NO_LABEL)]))
        out = self.model(torch.cat([x, x]), torch.cat([t, t]), condition=both)
        conditional, unconditional = out[:rows], out[rows:]
        return conditional + self.scale * (conditional - unconditional)


def labels_from(label: Any, num: int, num_classes: int) -> torch.Tensor:
    """``label`` (an int, or a sequence, array or tensor of ``num`` ints) as int64 labels (num,), checked
    against ``num_classes``; a UserError in one line for anything else."""
    import numpy as np

    if isinstance(label, int) and not isinstance(label, bool) and not 0 <= label < num_classes:
        raise UserError(f"label {label} is not a trained class; this run's classes are 0 to {num_classes - 1}")
    try:
        values = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"labels must be integers, got {label!r:.60}") from None
    if values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all():
        values = values.astype(np.float64)
    elif values.dtype.kind not in "iu":
        raise UserError(f"labels must be integers, got {label!r:.60}")
    if values.ndim == 0:
        values = np.full(num, values)
    if values.shape != (num,):
        raise UserError(f"give one label, or one per sample ({num}); got an array of shape {values.shape}")
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise UserError(f"label {bad[0]:.0f} is not a trained class; this run's classes are 0 to {num_classes - 1}")
    return torch.from_numpy(values.astype(np.int64))
