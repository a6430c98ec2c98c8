"""Chunked sampling: large N without holding every chain's activations at once."""

from __future__ import annotations

import torch

from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel
from scorekit.parametrization import as_parametrization

__all__ = ["sample_in_chunks"]


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
) -> torch.Tensor:
    """Draw ``num`` samples, ``chunk_size`` at a time, with one generator; returns (num, *event) on CPU.

    The model is seen through the prediction the sampler declares (``Sampler.parametrization``).
    """
    model = as_parametrization(model, sampler.parametrization, schedule)
    chunks = []
    with torch.no_grad():
        for start in range(0, num, chunk_size):
            n = min(chunk_size, num - start)
            x = sampler.sample(
                model, (n, *event_shape), schedule=schedule, generator=generator, device=device, dtype=dtype
            )
            chunks.append(x.to("cpu"))
    return torch.cat(chunks)
