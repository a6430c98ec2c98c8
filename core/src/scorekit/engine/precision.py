"""Precision policy: fp32, bf16 autocast, or fp16 autocast with a gradient scaler.

Weights and optimizer state stay in fp32 in every policy; autocast runs the forward pass (and
so the matching backward ops) in the low-precision type where torch deems it safe. fp16's narrow
exponent range needs loss scaling (torch.amp.GradScaler) so small gradients do not flush to zero;
bf16 has fp32's range and needs none.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import torch

from scorekit.errors import ConfigError

__all__ = ["PRECISIONS", "autocast", "check_compile", "check_precision", "grad_scaler"]

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """A ConfigError unless ``device`` supports ``precision`` for training."""
    if precision == "fp32":
        return
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                f"precision 'bf16' needs a GPU with bfloat16 support; {torch.cuda.get_device_name(device)} "
                "has none: use 'fp16' or 'fp32' @ $.train.precision"
            )
        return
    if device.type == "cpu" and precision == "bf16":
        return
    supported = "'fp32' or 'bf16'" if device.type == "cpu" else "'fp32'"
    raise ConfigError(
        f"precision {precision!r} is not supported for training on {device.type}; use {supported} "
        "(fp16 needs a CUDA device) @ $.train.precision"
    )


def check_compile(device: torch.device) -> None:
    """torch.compile's CPU backend builds C++ at run time: say so now rather than mid-run."""
    if device.type == "cpu" and not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        raise ConfigError("train.compile needs a C++ compiler on CPU (none found on PATH) @ $.train.compile")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    if precision == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=_DTYPES[precision]):
        yield


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16, None otherwise."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None
