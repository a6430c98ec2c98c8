"""Conformance check: a loss or sampler works with class-conditional models."""

from __future__ import annotations

import torch
from torch import nn

from scorekit.condition import Condition, Conditioned
from scorekit.errors import ConfigError
from scorekit.interfaces import Loss, NoiseSchedule, Sampler
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, view_for
from scorekit.testing._common import ReferenceScoreModel, _generator, _require, _seeded


class _LabelledReference(ReferenceScoreModel):
    """The reference model plus a learned shift per class: s(x, t, y) = reference(x, t) + shift_y."""

    def __init__(self, event_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(event_shape, dtype=torch.float64)
        self.num_classes = num_classes
        self.shift = nn.Parameter(
            0.1 * torch.randn(num_classes, *event_shape, generator=_generator(5), dtype=torch.float64)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        labels = getattr(condition, "labels", None)
        _require(labels is not None, "the conditioning check", "the model was called without its condition")
        return super().forward(x, t) + self.shift[labels]


def check_conditioning(
    component: Loss | Sampler,
    *,
    schedule: NoiseSchedule | None,
    event_shape: tuple[int, ...] = (2,),
    num: int = 6,
) -> None:
    """Check that ``component`` (a Loss or a Sampler) trains or samples a class-conditional model.

    The engine binds each row's condition (its class label) to a conditional model through a
    :class:`~scorekit.condition.Conditioned` view, so the component calls ``model(x, t)`` as usual;
    this holds only if it evaluates the model on the rows it was given (the batch, the chains), all
    of them, in order. The check runs the component once on such a view of a conditional reference
    model, labels 0, 1, 2, 0, …, and fails when the model was evaluated on another number of rows
    (a loss that repeats its batch for several projections, a sampler that evaluates two copies at
    once). For a loss it also requires a gradient on the shift of every class in the batch.

    Example::

        check_conditioning(registry.get("loss", "my_loss").build(config), schedule=schedule)
    """
    name = type(component).__name__
    model = _LabelledReference(event_shape, num_classes=3)
    labels = torch.arange(num) % 3
    prediction = component.parametrization
    if prediction not in KERNEL_PARAMETRIZATIONS:
        model.parametrization = prediction  # type: ignore[misc]  # the reference stands in
    conditioned = Conditioned(model, Condition(labels), consumer=name)
    shape = (num, *event_shape)
    try:
        if isinstance(component, Loss):
            view = view_for(conditioned, component, schedule) if prediction in KERNEL_PARAMETRIZATIONS else conditioned
            x0 = torch.randn(shape, generator=_generator(7), dtype=torch.float64)
            value = _seeded(lambda g: component(view, x0, schedule=schedule, generator=g), seed=0, global_seed=1)
            value.backward()
            grad = model.shift.grad
            _require(
                grad is not None and bool((grad.flatten(1).abs().sum(1) > 0).all()),
                name,
                "gave no gradient to some class's parameters: the loss must evaluate the model it is handed",
            )
        else:
            _seeded(
                lambda g: component.sample(conditioned, shape, schedule=schedule, generator=g, dtype=torch.float64),
                seed=0,
                global_seed=1,
            )
    except ConfigError as exc:
        raise AssertionError(f"{name}: {exc}") from None
