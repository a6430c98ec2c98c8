"""Config classes of the core's built-in datasets and networks (attrs only: imported at discovery)."""

from __future__ import annotations

import math

import attrs

from scorekit._io import MAX_ARRAY_BYTES, format_bytes
from scorekit.validators import (
    MAX_DEPTH,
    MAX_DIM,
    MAX_IMAGE_SIDE,
    MAX_MODES,
    MAX_POINTS,
    MAX_WIDTH,
    FieldError,
    bounded,
    check_weights,
    even,
    in_range,
    one_of,
    positive,
    seed,
)

__all__ = [
    "DigitsConfig",
    "FileDataConfig",
    "GaussianMixtureConfig",
    "ImageDataConfig",
    "NCSNMLPConfig",
    "RadialMixtureConfig",
    "ScoreMLPConfig",
    "StandardNormalConfig",
    "TimeMLPConfig",
    "ToyDataConfig",
    "UNetConfig",
]

STANDARDIZE_MODES = ("none", "scalar", "standard")


@attrs.frozen(kw_only=True)
class _SyntheticConfig:
    #: "none", "scalar" (per-dimension mean, one scale: isotropic noise stays isotropic) or
    #: "standard" (per-dimension mean and std). Recorded in the run and undone on output.
    standardize: str = attrs.field(default="none", validator=one_of(*STANDARDIZE_MODES))
    num_train: int = attrs.field(default=50000, validator=bounded(2, MAX_POINTS, "data points"))
    num_heldout: int = attrs.field(default=10000, validator=bounded(2, MAX_POINTS, "data points"))
    #: Seed of the data set itself, independent of the training seed.
    seed: int = attrs.field(default=1234, validator=seed())

    def _check_memory(self, dim: int) -> None:
        """Refuse a data set of ``dim``-dimensional points larger, as float32, than MAX_ARRAY_BYTES."""
        size = (self.num_train + self.num_heldout) * dim * 4
        if size > MAX_ARRAY_BYTES:
            raise FieldError(
                "num_train",
                f"num_train + num_heldout = {self.num_train + self.num_heldout:,} points of dimension {dim:,} take "
                f"{format_bytes(size)} as float32, more than the {format_bytes(MAX_ARRAY_BYTES)} memory budget "
                "for one array",
            )


#: Data values, means and ranges beyond this overflow float32 once squared (3.4e38): a model cannot train.
MAX_DATA_MAGNITUDE = 1e18


def _means(instance: object, attribute: attrs.Attribute[list[list[float]]], value: list[list[float]]) -> None:
    if not value or not all(isinstance(row, list) and row for row in value):
        raise FieldError(attribute.name, "must be a non-empty list of points (a list of lists of numbers)")
    if len({len(row) for row in value}) != 1:
        raise FieldError(attribute.name, "every mean must have the same dimension")
    if not all(math.isfinite(v) and abs(v) <= MAX_DATA_MAGNITUDE for row in value for v in row):
        raise FieldError(attribute.name, f"must be finite numbers of magnitude at most {MAX_DATA_MAGNITUDE:g}")


@attrs.frozen(kw_only=True)
class GaussianMixtureConfig(_SyntheticConfig):
    """An isotropic Gaussian mixture Σ_k w_k N(μ_k, std²I) with exact log-density and score."""

    means: list[list[float]] = attrs.field(validator=_means)
    std: float = attrs.field(default=0.3, validator=positive())
    weights: list[float] | None = None

    def __attrs_post_init__(self) -> None:
        self._check_memory(len(self.means[0]))
        if self.weights is not None:
            if len(self.weights) != len(self.means):
                raise FieldError("weights", f"needs one weight per mean ({len(self.means)}), got {len(self.weights)}")
            total = sum(self.weights)
            if any(not math.isfinite(w) or w < 0 for w in self.weights) or not (0 < total < math.inf):
                raise FieldError("weights", "must be finite, non-negative and not all zero")


@attrs.frozen(kw_only=True)
class RadialMixtureConfig(_SyntheticConfig):
    """``eight_gaussians``: modes equally spaced on a circle, equal weights."""

    num_modes: int = attrs.field(default=8, validator=bounded(1, MAX_MODES, "mixture components"))
    radius: float = attrs.field(default=4.0, validator=positive())
    std: float = attrs.field(default=0.3, validator=positive())


@attrs.frozen(kw_only=True)
class StandardNormalConfig(_SyntheticConfig):
    """N(0, I_d)."""

    dim: int = attrs.field(default=2, validator=bounded(1, MAX_DIM, "data dimensions"))

    def __attrs_post_init__(self) -> None:
        self._check_memory(self.dim)


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
    #: Class labels, one integer per row (for class-conditional models): a ``.npy`` file, or the
    #: ``.npz`` holding them (``labels_key`` names the array; ``path`` itself when only that is given).
    labels_path: str | None = None
    labels_key: str | None = None
    heldout_fraction: float = attrs.field(default=0.1, validator=in_range(0.001, 0.9))
    standardize: str = attrs.field(default="scalar", validator=one_of(*STANDARDIZE_MODES))
    seed: int = attrs.field(default=1234, validator=seed())


def _classes(instance: object, attribute: attrs.Attribute[list[int] | None], value: list[int] | None) -> None:
    if value is not None and (not value or len(set(value)) != len(value) or not all(0 <= v <= 9 for v in value)):
        raise FieldError(attribute.name, f"must be a non-empty list of distinct digits 0 to 9, got {value!r}")


@attrs.frozen(kw_only=True)
class DigitsConfig:
    """scikit-learn's 1,797 handwritten digits, 8×8 gray images (N, 1, 8, 8) scaled to [−1, 1]."""

    #: Keep only these digits; None keeps all ten.
    classes: list[int] | None = attrs.field(default=None, validator=_classes)
    heldout_fraction: float = attrs.field(default=0.1, validator=in_range(0.001, 0.9))
    standardize: str = attrs.field(default="none", validator=one_of(*STANDARDIZE_MODES))
    seed: int = attrs.field(default=1234, validator=seed())


def _channels(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value not in (1, 3):
        raise FieldError(attribute.name, f"must be 1 (gray) or 3 (RGB), got {value!r}")


def _size(instance: object, attribute: attrs.Attribute[list[int] | None], value: list[int] | None) -> None:
    if value is not None and (len(value) != 2 or not all(1 <= v <= MAX_IMAGE_SIDE for v in value)):
        raise FieldError(attribute.name, f"must be [height, width], each in [1, {MAX_IMAGE_SIDE}], got {value!r}")


def _value_range(instance: object, attribute: attrs.Attribute[list[float] | None], value: list[float] | None) -> None:
    if value is not None and (
        len(value) != 2
        or not all(math.isfinite(v) and abs(v) <= MAX_DATA_MAGNITUDE for v in value)
        or value[0] >= value[1]
    ):
        raise FieldError(
            attribute.name,
            f"must be [low, high] with low < high, finite, of magnitude at most {MAX_DATA_MAGNITUDE:g}, got {value!r}",
        )


@attrs.frozen(kw_only=True)
class ImageDataConfig:
    """The user's own images: a folder of image files, or an array in a ``.npy`` / ``.npz`` file.

    An array is (N, H, W), (N, C, H, W), or (N, H, W, C) when its last axis is 1 or 3 and its
    second is not; C must equal ``channels``. The images become float32 (N, C, H, W) in [−1, 1].
    """

    path: str
    #: The array's name inside a ``.npz``; may be left out when the archive holds one array.
    key: str | None = None
    #: Class labels, one integer per row (for class-conditional models): a ``.npy`` file, or the
    #: ``.npz`` holding them (``labels_key`` names the array; ``path`` itself when only that is given).
    labels_path: str | None = None
    labels_key: str | None = None
    #: 1 reads image files as gray ("L"), 3 as RGB.
    channels: int = attrs.field(default=1, validator=_channels)
    #: [H, W] to resize every image to; None requires all images to share one size.
    size: list[int] | None = attrs.field(default=None, validator=_size)
    #: [low, high] of the input, mapped linearly to [−1, 1]; None: [0, 255] for integer data,
    #: [0, 1] for float data lying in it (other float data must state its range).
    value_range: list[float] | None = attrs.field(default=None, validator=_value_range)
    #: A folder or array with more images is refused.
    max_images: int = attrs.field(default=100000, validator=bounded(2, MAX_POINTS, "data points"))
    #: "folders": ``path`` holds one subfolder per class, labels 0, 1, … in the subfolders' name order
    #: (for class-conditional models); "none": no labels.
    labels: str = attrs.field(default="none", validator=one_of("none", "folders"))
    heldout_fraction: float = attrs.field(default=0.1, validator=in_range(0.001, 0.9))
    standardize: str = attrs.field(default="none", validator=one_of(*STANDARDIZE_MODES))
    seed: int = attrs.field(default=1234, validator=seed())


def _described(hidden: int, layers: int, classes: int) -> str:
    """What makes an MLP's weights, for the message of one too large."""
    return f"hidden = {hidden} with layers = {layers}" + (f" and classes = {classes}" if classes else "")


@attrs.frozen(kw_only=True)
class NCSNMLPConfig:
    """A noise-conditional MLP s(x, σ) = f(x, log σ)/σ (Song & Ermon 2020, technique 3)."""

    hidden: int = attrs.field(default=128, validator=bounded(1, MAX_WIDTH, "network widths"))
    layers: int = attrs.field(default=3, validator=bounded(1, MAX_DEPTH, "network depths"))
    #: Number of random Fourier features of log σ.
    embedding_dim: int = attrs.field(default=32, validator=[bounded(2, MAX_WIDTH, "network widths"), even()])
    activation: str = attrs.field(default="silu", validator=one_of("silu", "relu", "softplus", "gelu"))
    #: Classes of a class-conditional net (a label embedding added to the noise level's); 0: unconditional.
    classes: int = attrs.field(default=0, validator=in_range(0, 100_000))

    def __attrs_post_init__(self) -> None:
        # layers hidden×hidden layers, and the noise level's and the labels' projections onto every layer.
        per_layer = self.hidden * self.layers + (self.embedding_dim + self.classes) * (self.layers + 1)
        check_weights("hidden", self.hidden * per_layer, _described(self.hidden, self.layers, self.classes))


@attrs.frozen(kw_only=True)
class ScoreMLPConfig:
    """An MLP s(x) for the score of the clean data (σ = 0): implicit and sliced score matching."""

    hidden: int = attrs.field(default=128, validator=bounded(1, MAX_WIDTH, "network widths"))
    layers: int = attrs.field(default=3, validator=bounded(1, MAX_DEPTH, "network depths"))
    #: Smooth activations keep ∇ₓs (the Hessian of log p) informative for ISM/SSM.
    activation: str = attrs.field(default="softplus", validator=one_of("silu", "relu", "softplus", "gelu", "tanh"))

    def __attrs_post_init__(self) -> None:
        weights = self.hidden * self.hidden * (self.layers - 1)  # the hidden×hidden layers
        check_weights("hidden", weights, f"hidden = {self.hidden} with layers = {self.layers}")


#: What a time-conditioned network predicts (scorekit.parametrization): ε by default, as in DDPM.
PREDICTIONS = ("epsilon", "score", "x0", "v")


@attrs.frozen(kw_only=True)
class TimeMLPConfig:
    """A time-conditioned MLP for vector data: every hidden layer receives a projection of the time embedding."""

    hidden: int = attrs.field(default=128, validator=bounded(1, MAX_WIDTH, "network widths"))
    layers: int = attrs.field(default=3, validator=bounded(1, MAX_DEPTH, "network depths"))
    #: Sinusoidal features of t·time_scale (Ho et al. 2020).
    embedding_dim: int = attrs.field(default=64, validator=[bounded(4, MAX_WIDTH, "network widths"), even()])
    #: Multiplies t before the embedding: 1 for steps 0…T−1, about 1000 for times in [0, 1].
    time_scale: float = attrs.field(default=1.0, validator=positive())
    activation: str = attrs.field(default="silu", validator=one_of("silu", "relu", "softplus", "gelu"))
    prediction: str = attrs.field(default="epsilon", validator=one_of(*PREDICTIONS))
    #: Classes of a class-conditional net (a label embedding added to the noise level's); 0: unconditional.
    classes: int = attrs.field(default=0, validator=in_range(0, 100_000))

    def __attrs_post_init__(self) -> None:
        # layers hidden×hidden layers, the time embedding's projection onto every layer, the labels'.
        weights = self.hidden * (self.hidden * (2 * self.layers + 1) + self.classes)
        check_weights("hidden", weights, _described(self.hidden, self.layers, self.classes))


def _channel_mult(instance: object, attribute: attrs.Attribute[list[int]], value: list[int]) -> None:
    if not value or len(value) > 5 or not all(isinstance(m, int) and 1 <= m <= 16 for m in value):
        raise FieldError(attribute.name, f"must list 1 to 5 integers in [1, 16], got {value!r}")


@attrs.frozen(kw_only=True)
class UNetConfig:
    """A small UNet for images (C, H, W) of any size, conditioned on time (Ho et al. 2020, scaled down).

    Resolution halves after each entry of ``channel_mult`` but the last; H and W are padded up to a
    multiple of 2^(len(channel_mult) − 1) and the output cropped back.
    """

    channels: int = attrs.field(default=32, validator=bounded(1, MAX_WIDTH, "network widths"))
    channel_mult: list[int] = attrs.field(factory=lambda: [1, 2, 2], validator=_channel_mult)
    num_res_blocks: int = attrs.field(default=1, validator=bounded(1, MAX_DEPTH, "network depths"))
    #: Groups of the GroupNorm layers; must divide every level's channel count.
    groups: int = attrs.field(default=8, validator=bounded(1, MAX_WIDTH, "network widths"))
    #: Self-attention in the middle block (at the lowest resolution).
    attention: bool = True
    dropout: float = attrs.field(default=0.0, validator=in_range(0.0, 0.9))
    embedding_dim: int = attrs.field(default=64, validator=[bounded(4, MAX_WIDTH, "network widths"), even()])
    time_scale: float = attrs.field(default=1.0, validator=positive())
    prediction: str = attrs.field(default="epsilon", validator=one_of(*PREDICTIONS))
    #: Classes of a class-conditional net (a label embedding added to the noise level's); 0: unconditional.
    classes: int = attrs.field(default=0, validator=in_range(0, 100_000))

    def __attrs_post_init__(self) -> None:
        # The second 3×3 convolution of each residual block: num_res_blocks per level going down,
        # one more going up.
        widths = sum((self.channels * mult) ** 2 for mult in self.channel_mult)
        # And the labels' embedding, classes × 4·channels.
        weights = 9 * widths * (2 * self.num_res_blocks + 1) + self.classes * 4 * self.channels
        described = f"channels = {self.channels} with channel_mult = {self.channel_mult}"
        classes = f", classes = {self.classes}" if self.classes else ""
        check_weights("channels", weights, f"{described}{classes} and num_res_blocks = {self.num_res_blocks}")
        for mult in self.channel_mult:
            if (self.channels * mult) % self.groups:
                raise FieldError(
                    "groups", f"must divide every level's channels (channels × channel_mult), {self.channels * mult}"
                )
