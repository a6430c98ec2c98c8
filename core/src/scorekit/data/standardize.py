"""Affine standardization between data space and model space, and how it moves scores.

The model works on y = (x − m) / s (elementwise, s > 0). Under this change of
variables a density, its score and a noise level transform as

    log p_x(x) = log p_y(y) − Σ_i log s_i,
    ∇ₓ log p_x(x) = ∇_y log p_y(y) / s,
    σ_x = s σ_y   (only when s is the same in every dimension),

so that quantities a model computes in its own space can be reported in the
units of the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, overload

import attrs
import torch
from torch import Tensor

from scorekit.errors import ConfigError

__all__ = ["Standardizer"]

_MODES = ("none", "scalar", "standard")


def _float_tuple(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@attrs.frozen
class Standardizer:
    """The map y = (x − mean) / scale from data space to model space.

    mode: "none" (identity), "scalar" (per-dimension mean, one scale shared by all
    dimensions, so isotropic noise stays isotropic) or "standard" (per-dimension
    mean and scale). `mean` and `scale` hold one entry per data dimension.
    """

    mode: str
    mean: tuple[float, ...] = attrs.field(converter=_float_tuple)
    scale: tuple[float, ...] = attrs.field(converter=_float_tuple)

    def __attrs_post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}; got {self.mode!r}")
        if len(self.mean) != len(self.scale) or not self.mean:
            raise ValueError(
                f"mean and scale must have the same non-zero length, got {len(self.mean)} and {len(self.scale)}"
            )
        if not all(math.isfinite(m) for m in self.mean):
            raise ValueError("mean must be finite")
        if not all(math.isfinite(s) and s > 0 for s in self.scale):
            raise ValueError("scale must be positive and finite")
        if self.mode == "none" and (any(m != 0 for m in self.mean) or any(s != 1 for s in self.scale)):
            raise ValueError("mode 'none' requires mean 0 and scale 1")
        if self.mode == "scalar" and len(set(self.scale)) != 1:
            raise ValueError("mode 'scalar' requires the same scale in every dimension")

    @property
    def dim(self) -> int:
        """Number of data dimensions d."""
        return len(self.mean)

    @classmethod
    def fit(cls, x: Tensor, mode: str) -> Standardizer:
        """Fit to data x of shape (N, d), or (N, *event) taken as (N, prod(event)), e.g. images (N, C, H, W).

        "none": mean 0, scale 1. "scalar": per-dimension mean and the single scale
        sqrt(mean_i Var(x_i)), the root-mean-square per-dimension standard deviation.
        "standard": per-dimension mean and standard deviation. Variances are the
        population ones (divisor N). A dimension that is constant in the data gets
        scale 1, so that it is shifted but not divided by zero.
        """
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}; got {mode!r}")
        if x.ndim < 2 or 0 in x.shape:
            raise ValueError(f"x must have shape (N, d) or (N, *event) with no empty axis, got shape {tuple(x.shape)}")
        data = x.detach().double().reshape(x.shape[0], -1)
        dim = data.shape[1]
        if mode == "none":
            return cls(mode, (0.0,) * dim, (1.0,) * dim)
        mean = data.mean(dim=0)
        variance = data.var(dim=0, correction=0)
        # A constant column can still get a variance of ~1e-34 from rounding in the mean;
        # test constancy directly instead of comparing the variance with zero.
        constant = data.amax(dim=0) == data.amin(dim=0)
        if mode == "scalar":
            scale = variance.mean().sqrt() if not constant.all() else torch.tensor(1.0, dtype=torch.float64)
            return cls(mode, mean.tolist(), (scale.item(),) * dim)
        scale = torch.where(constant, torch.ones_like(variance), variance.sqrt())
        return cls(mode, mean.tolist(), scale.tolist())

    def _constants(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """mean and scale as tensors with the dtype and device of `like`, after a shape check.

        They have shape (d,) for `like` of shape (..., d), and the event shape for a batch
        (N, *event) of events with d values each (e.g. images (N, C, H, W)), in the
        row-major order `fit` flattened them in.
        """
        if like.ndim >= 1 and like.shape[-1] == self.dim:
            shape: tuple[int, ...] = (self.dim,)
        elif like.ndim >= 2 and math.prod(like.shape[1:]) == self.dim:
            shape = tuple(like.shape[1:])
        else:
            raise ValueError(f"expected a tensor of shape (..., {self.dim}), got shape {tuple(like.shape)}")
        mean = torch.tensor(self.mean, dtype=like.dtype, device=like.device).reshape(shape)
        scale = torch.tensor(self.scale, dtype=like.dtype, device=like.device).reshape(shape)
        return mean, scale

    def forward(self, x: Tensor) -> Tensor:
        """Data space to model space: y = (x − mean) / scale."""
        mean, scale = self._constants(x)
        return (x - mean) / scale

    def inverse(self, y: Tensor) -> Tensor:
        """Model space to data space: x = y · scale + mean."""
        mean, scale = self._constants(y)
        return y * scale + mean

    def score_to_data(self, score_model: Tensor) -> Tensor:
        """∇ₓ log p_x(x) = ∇_y log p_y(y) / scale, elementwise, at y = forward(x)."""
        _, scale = self._constants(score_model)
        return score_model / scale

    def score_to_model(self, score_data: Tensor) -> Tensor:
        """∇_y log p_y(y) = ∇ₓ log p_x(x) · scale, elementwise, at x = inverse(y)."""
        _, scale = self._constants(score_data)
        return score_data * scale

    def _isotropic_scale(self) -> float:
        if self.mode == "standard":
            raise ConfigError(
                "σ has no single data-space value under per-dimension standardization; "
                "use standardize = 'scalar' @ $.data.standardize"
            )
        return self.scale[0]

    @overload
    def sigma_to_data(self, sigma_model: float) -> float: ...
    @overload
    def sigma_to_data(self, sigma_model: Tensor) -> Tensor: ...
    def sigma_to_data(self, sigma_model: float | Tensor) -> float | Tensor:
        """Noise level in data units, σ_x = scale · σ_y; only for modes "none" and "scalar"."""
        return sigma_model * self._isotropic_scale()

    @overload
    def sigma_to_model(self, sigma_data: float) -> float: ...
    @overload
    def sigma_to_model(self, sigma_data: Tensor) -> Tensor: ...
    def sigma_to_model(self, sigma_data: float | Tensor) -> float | Tensor:
        """Noise level in model units, σ_y = σ_x / scale; only for modes "none" and "scalar"."""
        return sigma_data / self._isotropic_scale()

    def log_prob_to_data(self, log_prob_model: Tensor) -> Tensor:
        """log p_x(x) = log p_y(y) − Σ_i log scale_i: the log-Jacobian of x ↦ y."""
        return log_prob_model - math.fsum(math.log(s) for s in self.scale)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict that `from_dict` turns back into an equal Standardizer."""
        return {"mode": self.mode, "mean": list(self.mean), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardizer:
        """Inverse of `to_dict`."""
        missing = [name for name in ("mode", "mean", "scale") if name not in data]
        if missing:
            raise ValueError(f"standardizer is missing {', '.join(missing)}")
        return cls(data["mode"], data["mean"], data["scale"])
