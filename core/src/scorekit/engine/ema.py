"""Exponential moving average of a model's weights."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ after every optimizer step (Polyak averaging).

    Sampling and evaluation use the averaged weights; Song & Ermon (2020) found them to remove
    most of the sample-quality fluctuation of score networks. Buffers are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = [p.detach().clone() for p in model.parameters()]
        # Detached views share storage with the parameters, which the optimizer updates in place.
        self._live = [p.detach() for p in model.parameters()]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.params, self._live, 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {str(i): p for i, p in enumerate(self.params)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if len(state) != len(self.params):
            raise ValueError(f"EMA state has {len(state)} tensors, the model {len(self.params)}")
        for i, p in enumerate(self.params):
            p.copy_(state[str(i)])

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for target, source in zip(model.parameters(), self.params, strict=True):
            target.copy_(source)
