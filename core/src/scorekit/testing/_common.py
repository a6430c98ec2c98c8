"""Shared pieces of the conformance kit: the reference model, seeding, and assertions."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from scorekit.errors import ConfigError
from scorekit.interfaces import Loss, NoiseSchedule, Sampler, ScoreModel

DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.float64)
#: Event shapes of rank 1 and 3: points and (C, H, W) images.
EVENT_SHAPES: tuple[tuple[int, ...], ...] = ((2,), (1, 4, 4))
#: Statistical checks pass within this many standard errors of the closed form.
_STANDARD_ERRORS = 6.0

ModelFactory = Callable[[tuple[int, ...], torch.dtype], ScoreModel]


class ReferenceScoreModel(ScoreModel):
    """A tiny smooth score model, s(x, t) = −x·softplus(w)/(1 + t²) + W₂·tanh(W₁[x; t] + b₁).

    Valid at t = 0 (clean-data losses) and t > 0, in float32 or float64 (``dtype``), with
    parameters drawn from ``seed``; every parameter reaches the output, so a loss must give each
    one a gradient. It asserts the ScoreModel contract on its inputs: x of shape (B, *event_shape)
    in the parameters' dtype, t of shape (B,).

    Example::

        model = ReferenceScoreModel((2,), dtype=torch.float64)
        score = model(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3))
    """

    def __init__(
        self, event_shape: Sequence[int], *, hidden: int = 8, dtype: torch.dtype = torch.float32, seed: int = 0
    ) -> None:
        super().__init__()
        self.bind(tuple(event_shape))
        d = math.prod(self.event_shape)
        g = torch.Generator().manual_seed(seed)
        self.log_scale = nn.Parameter(torch.zeros((), dtype=dtype))
        self.w1 = nn.Parameter(torch.randn(hidden, d + 1, generator=g, dtype=dtype) / math.sqrt(d + 1))
        self.b1 = nn.Parameter(0.1 * torch.randn(hidden, generator=g, dtype=dtype))
        self.w2 = nn.Parameter(0.1 * torch.randn(d, hidden, generator=g, dtype=dtype) / math.sqrt(hidden))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dtype = self.w1.dtype
        _require(
            x.shape[1:] == self.event_shape,
            "ReferenceScoreModel",
            f"got x of shape {tuple(x.shape)}; expected (B, *{self.event_shape})",
        )
        _require(
            t.shape == x.shape[:1], "ReferenceScoreModel", f"got t of shape {tuple(t.shape)} for x {tuple(x.shape)}"
        )
        _require(x.dtype == dtype, "ReferenceScoreModel", f"got x in {x.dtype}, the requested dtype is {dtype}")
        flat = x.reshape(x.shape[0], -1)
        t = t.to(dtype).unsqueeze(1)
        hidden = torch.tanh(torch.cat([flat, t], dim=1) @ self.w1.T + self.b1)
        score = -flat * nn.functional.softplus(self.log_scale) / (1 + t.square()) + hidden @ self.w2.T
        return score.reshape(x.shape)


def _require(condition: bool, component: str, message: str) -> None:
    if not condition:
        raise AssertionError(f"{component}: {message}")


def _reference_model(event_shape: tuple[int, ...], dtype: torch.dtype) -> ScoreModel:
    return ReferenceScoreModel(event_shape, dtype=dtype)


def _generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@contextmanager
def _global_rng(seed: int) -> Iterator[None]:
    """Set the global RNG for a call and restore it: a component that draws from it shows up as nondeterminism."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _seeded(call: Callable[[torch.Generator], Any], *, seed: int, global_seed: int, device: Any = "cpu") -> Any:
    with _global_rng(global_seed):
        return call(_generator(seed, device))


def _on(tensor: torch.Tensor, device: torch.device | str) -> bool:
    device = torch.device(device)
    return tensor.device.type == device.type and (device.index is None or tensor.device.index == device.index)


def _check_accepts(component: Loss | Sampler, schedule: NoiseSchedule | None) -> None:
    name = type(component).__name__
    try:
        component.check(schedule)
    except ConfigError as exc:
        raise AssertionError(f"{name}: check() rejected the schedule {type(schedule).__name__}: {exc}") from None
    if component.needs_schedule:
        try:
            component.check(None)
        except ConfigError:
            pass
        else:
            raise AssertionError(f"{name}: needs_schedule is True but check(None) raised no ConfigError")
