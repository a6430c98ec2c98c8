"""Config classes of the core's built-in datasets and networks (attrs only: imported at discovery)."""

from __future__ import annotations

import math

import attrs

from scorekit.validators import FieldError, at_least, even, in_range, one_of, positive, seed

__all__ = [
    "FileDataConfig",
    "GaussianMixtureConfig",
    "NCSNMLPConfig",
    "RadialMixtureConfig",
    "ScoreMLPConfig",
    "StandardNormalConfig",
    "ToyDataConfig",
]

STANDARDIZE_MODES = ("none", "scalar", "standard")


@attrs.frozen(kw_only=True)
class _SyntheticConfig:
    #: "none", "scalar" (per-dimension mean, one scale: isotropic noise stays isotropic) or
    #: "standard" (per-dimension mean and std). Recorded in the run and undone on output.
    standardize: str = attrs.field(default="none", validator=one_of(*STANDARDIZE_MODES))
    num_train: int = attrs.field(default=50000, validator=at_least(2))
    num_heldout: int = attrs.field(default=10000, validator=at_least(2))
    #: Seed of the data set itself, independent of the training seed.
    seed: int = attrs.field(default=1234, validator=seed())


def _means(instance: object, attribute: attrs.Attribute[list[list[float]]], value: list[list[float]]) -> None:
    if not value or not all(isinstance(row, list) and row for row in value):
        raise FieldError(attribute.name, "must be a non-empty list of points (a list of lists of numbers)")
    if len({len(row) for row in value}) != 1:
        raise FieldError(attribute.name, "every mean must have the same dimension")
    if not all(math.isfinite(v) for row in value for v in row):
        raise FieldError(attribute.name, "must be finite")


@attrs.frozen(kw_only=True)
class GaussianMixtureConfig(_SyntheticConfig):
    """An isotropic Gaussian mixture Σ_k w_k N(μ_k, std²I) with exact log-density and score."""

    means: list[list[float]] = attrs.field(validator=_means)
    std: float = attrs.field(default=0.3, validator=positive())
    weights: list[float] | None = None

    def __attrs_post_init__(self) -> None:
        if self.weights is not None:
            if len(self.weights) != len(self.means):
                raise FieldError("weights", f"needs one weight per mean ({len(self.means)}), got {len(self.weights)}")
            if any(not math.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise FieldError("weights", "must be finite, non-negative and not all zero")


@attrs.frozen(kw_only=True)
class RadialMixtureConfig(_SyntheticConfig):
    """``eight_gaussians``: modes equally spaced on a circle, equal weights."""

    num_modes: int = attrs.field(default=8, validator=at_least(1))
    radius: float = attrs.field(default=4.0, validator=positive())
    std: float = attrs.field(default=0.3, validator=positive())


@attrs.frozen(kw_only=True)
class StandardNormalConfig(_SyntheticConfig):
    """N(0, I_d)."""

    dim: int = attrs.field(default=2, validator=at_least(1))


@attrs.frozen(kw_only=True)
class ToyDataConfig(_SyntheticConfig):
    """2-D toy shapes without a closed-form density; ``noise`` None keeps the shape's default."""

    noise: float | None = attrs.field(default=None, validator=in_range(0.0, 10.0))


@attrs.frozen(kw_only=True)
class FileDataConfig:
    """The user's own array of shape (N, d) in a ``.npy`` file or a ``.npz`` archive."""

    path: str
    #: The array's name inside a ``.npz``; may be left out when the archive holds one array.
    key: str | None = None
    heldout_fraction: float = attrs.field(default=0.1, validator=in_range(0.001, 0.9))
    standardize: str = attrs.field(default="scalar", validator=one_of(*STANDARDIZE_MODES))
    seed: int = attrs.field(default=1234, validator=seed())


@attrs.frozen(kw_only=True)
class NCSNMLPConfig:
    """A noise-conditional MLP s(x, σ) = f(x, log σ)/σ (Song & Ermon 2020, technique 3)."""

    hidden: int = attrs.field(default=128, validator=at_least(1))
    layers: int = attrs.field(default=3, validator=at_least(1))
    #: Number of random Fourier features of log σ.
    embedding_dim: int = attrs.field(default=32, validator=[at_least(2), even()])
    activation: str = attrs.field(default="silu", validator=one_of("silu", "relu", "softplus", "gelu"))


@attrs.frozen(kw_only=True)
class ScoreMLPConfig:
    """An MLP s(x) for the score of the clean data (σ = 0): implicit and sliced score matching."""

    hidden: int = attrs.field(default=128, validator=at_least(1))
    layers: int = attrs.field(default=3, validator=at_least(1))
    #: Smooth activations keep ∇ₓs (the Hessian of log p) informative for ISM/SSM.
    activation: str = attrs.field(default="softplus", validator=one_of("silu", "relu", "softplus", "gelu", "tanh"))
