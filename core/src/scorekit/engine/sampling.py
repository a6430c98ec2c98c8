"""Chunked sampling: large N without holding every chain's activations at once."""

from __future__ import annotations

from collections.abc import Callable

import torch

from scorekit.engine.progress import Progress
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel
from scorekit.parametrization import view_for

__all__ = ["CountedModel", "sample_in_chunks"]


class CountedModel(ScoreModel):
    """A view of ``model`` that calls ``on_evaluation()`` after every forward pass (progress, NFE counts).

    Holds the model, not a copy: parameters, ``parametrization`` and ``event_shape`` are the model's,
    so any sampler or likelihood runs on the view exactly as on the model.
    """

    def __init__(self, model: ScoreModel, on_evaluation: Callable[[], None]) -> None:
        super().__init__()
        self.model = model
        self.on_evaluation = on_evaluation
        self.event_shape = model.event_shape
        self.evaluations = 0

    @property
    def parametrization(self) -> str:  # type: ignore[override]
        return self.model.parametrization

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        output = self.model(x, t)
        self.evaluations += 1
        self.on_evaluation()
        return output


def sample_in_chunks(
    sampler: Sampler,
    model: ScoreModel,
    num: int,
    event_shape: tuple[int, ...],
    *,
    schedule: NoiseSchedule | None,
    generator: torch.Generator,
    device: torch.device,
    chunk_size: int,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> torch.Tensor:
    """Draw ``num`` samples, ``chunk_size`` at a time, with one generator; returns (num, *event) on CPU.

    The model is seen through the prediction the sampler declares (``Sampler.parametrization``).
    With ``progress`` the model evaluations are reported on stderr (:class:`Progress`), against
    ``Sampler.num_evaluations`` per chunk where the sampler knows it.
    """
    model = view_for(model, sampler, schedule)
    chunks = []
    starts = range(0, num, chunk_size)
    per_chunk = sampler.num_evaluations(schedule)
    total = per_chunk * len(starts) if per_chunk else None
    with Progress("sample", total, unit="evaluations", enabled=progress) as report:
        counted = CountedModel(model, report.update)
        with torch.no_grad():
            for index, start in enumerate(starts):
                n = min(chunk_size, num - start)
                if len(starts) > 1:
                    report.set_note(f"chunk {index + 1}/{len(starts)} of {n} samples")
                x = sampler.sample(
                    counted, (n, *event_shape), schedule=schedule, generator=generator, device=device, dtype=dtype
                )
                chunks.append(x.to("cpu"))
    return torch.cat(chunks)
