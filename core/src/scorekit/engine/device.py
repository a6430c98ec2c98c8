"""Device selection: "auto" picks cuda, then mps, then cpu; explicit names are checked."""

from __future__ import annotations

import torch

from scorekit.errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    """The torch device for a config's ``device`` string, or a ConfigError saying why not."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"unknown device {name!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' @ $.train.device"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                "device 'cuda' requested but CUDA is not available here; use device = 'auto' or 'cpu' @ $.train.device"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist @ $.train.device"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' requested but MPS is not available here @ $.train.device")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unsupported device type {device.type!r} @ $.train.device")
    return device
