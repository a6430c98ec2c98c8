"""Exponential moving average of a model's weights."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """θ_ema ← β_k·θ_ema + (1 − β_k)·θ after optimizer step k (Polyak averaging), with the warm-up
    β_k = min(decay, (1 + k)/(10 + k)) so that a short run's average is not dominated by the
    initial weights (with a fixed β = 0.999, 400 steps leave 67% of the initialization in it).

    Sampling and evaluation use the averaged weights; Song & Ermon (2020) found them to remove
    most of the sample-quality fluctuation of score networks. Only parameters are averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = [p.detach().clone() for p in model.parameters()]
        # Detached views share storage with the parameters, which the optimizer updates in place.
        self._live = [p.detach() for p in model.parameters()]

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Average in the weights after optimizer step ``step`` (0-based)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.params, self._live, 1.0 - decay)

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
