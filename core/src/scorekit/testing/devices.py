"""Conformance check of device placement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from scorekit.testing._common import (
    _on,
    _require,
)


def check_device(
    produce: Callable[[torch.device], Any], devices: Sequence[torch.device | str] | None = None
) -> list[torch.device]:
    """Check that every tensor ``produce(device)`` returns (a tensor or a tuple of them) is on ``device``.

    ``devices`` defaults to "cpu", and "cuda" where a CUDA device is available, so the same test
    checks the CPU path on a CPU-only machine and both paths on a GPU machine. Returns the devices
    checked.

    Example::

        check_device(lambda d: sampler.sample(model.to(d), (4, 2), schedule=schedule, device=d))
    """
    if devices is None:
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    checked = [torch.device(d) for d in devices]
    for device in checked:
        output = produce(device)
        tensors = output if isinstance(output, tuple | list) else (output,)
        for i, tensor in enumerate(tensors):
            _require(isinstance(tensor, torch.Tensor), "output", f"{i} on {device} is a {type(tensor).__name__}")
            _require(_on(tensor, device), "output", f"{i} is on {tensor.device}, expected {device}")
    return checked
