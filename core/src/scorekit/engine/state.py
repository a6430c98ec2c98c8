"""Training state that is not torch's: the Python and NumPy RNG states as JSON, and a fused finiteness check."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["all_finite", "as_numpy_state", "as_python_state", "numpy_random_state", "python_random_state"]


def python_random_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def as_python_state(state: list[Any]) -> tuple[Any, ...]:
    return (state[0], tuple(state[1]), state[2])


def numpy_random_state() -> list[Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)]


def as_numpy_state(state: list[Any]) -> tuple[Any, ...]:
    return (state[0], np.asarray(state[1], dtype=np.uint32), state[2], state[3], state[4])


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every entry of ``tensors`` is finite: one fused pass per (device, dtype) group.

    The check GradScaler runs (``_amp_foreach_non_finite_check_and_unscale_`` with a scale of 1,
    which leaves the values as they are): about 15 µs for the default preset's gradients on 2 CPU
    cores against 85 µs for a total norm, on a path taken every step. Falls back to the norm where
    the fused kernel is missing.
    """
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    for (device, _), group in groups.items():
        found = torch.zeros(1, device=device)
        try:
            torch._amp_foreach_non_finite_check_and_unscale_(group, found, torch.ones(1, device=device))
        except (RuntimeError, NotImplementedError):  # a dtype or device without the fused kernel
            if not torch.isfinite(torch.nn.utils.get_total_norm(group)):
                return False
            continue
        if found.item() != 0:
            return False
    return True
