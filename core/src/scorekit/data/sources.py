"""Data sources: what a ``[data]`` section builds, and the bundle the engine trains on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from scorekit.builtins import configs
from scorekit.data import mixture, toy
from scorekit.data.arrays import load_array, load_labels, split
from scorekit.data.images import load_image_classes, load_images, load_labelled_digits
from scorekit.data.mixture import GaussianMixture
from scorekit.data.standardize import Standardizer
from scorekit.errors import DataError

__all__ = [
    "DataBundle",
    "DataSource",
    "Split",
    "array_file",
    "checkerboard",
    "digits",
    "gaussian_mixture",
    "images",
    "prepare",
    "radial_mixture",
    "rings",
    "spirals",
    "standard_normal",
    "swiss_roll",
    "two_moons",
]


@attrs.frozen
class DataBundle:
    """Training and held-out data in model space, and how to get back to data space.

    ``density`` is the true distribution in data space when it is known (a GaussianMixture),
    which makes exact scores, log-densities and mode weights available to evaluation. A labelled
    data set has ``train_labels`` and ``heldout_labels`` (int64, one per row) and ``num_classes``
    (the largest label + 1; for a mixture its number of components); an unlabelled one has None, 0.
    """

    train: torch.Tensor
    heldout: torch.Tensor
    standardizer: Standardizer
    density: GaussianMixture | None = None
    train_labels: torch.Tensor | None = None
    heldout_labels: torch.Tensor | None = None
    num_classes: int = 0

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def label_counts(self) -> list[int] | None:
        """How many training rows each class has (the class frequencies unconditional sampling draws from)."""
        if self.train_labels is None:
            return None
        return [int(v) for v in torch.bincount(self.train_labels, minlength=self.num_classes)]


@attrs.frozen
class Split:
    """What a :class:`DataSource` loads: train and held-out rows in data space, and their labels if any.

    ``num_classes`` 0 means: the largest label + 1 (a source that knows its classes, e.g. a mixture's
    components, says so, since a small sample may miss one).
    """

    train: torch.Tensor
    heldout: torch.Tensor
    train_labels: torch.Tensor | None = None
    heldout_labels: torch.Tensor | None = None
    num_classes: int = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        """``train, heldout = source.load()`` reads a Split as it reads the unlabelled pair."""
        return iter((self.train, self.heldout))


@attrs.frozen
class DataSource:
    """A data set: ``load()`` gives (train, held-out) in data space, or a :class:`Split` with labels;
    ``density`` if known."""

    load: Callable[[], tuple[torch.Tensor, torch.Tensor] | Split]
    standardize: str
    density: GaussianMixture | None = None


def prepare(source: DataSource) -> DataBundle:
    """Load a source and standardize it with statistics of the training split only."""
    loaded = source.load()
    parts = loaded if isinstance(loaded, Split) else Split(*loaded)
    train, heldout = parts.train, parts.heldout
    standardizer = Standardizer.fit(train, source.standardize)
    num_classes = parts.num_classes
    if parts.train_labels is not None and parts.heldout_labels is not None:
        largest = max(int(labels.max()) for labels in (parts.train_labels, parts.heldout_labels) if labels.numel())
        num_classes = max(num_classes, largest + 1)
    return DataBundle(
        standardizer.forward(train),
        standardizer.forward(heldout),
        standardizer,
        source.density,
        parts.train_labels,
        parts.heldout_labels if parts.train_labels is not None else None,
        num_classes if parts.train_labels is not None else 0,
    )


def _synthetic(config: Any, draw: Callable[[int, torch.Generator], torch.Tensor], density: Any = None) -> DataSource:
    def load() -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(config.seed)
        return draw(config.num_train, generator), draw(config.num_heldout, generator)

    return DataSource(load, config.standardize, density)


def _mixture_source(config: Any, density: GaussianMixture) -> DataSource:
    """A mixture's draws, labelled by component (the same points as unlabelled draws of the seed)."""

    def load() -> Split:
        generator = torch.Generator().manual_seed(config.seed)
        train, train_labels = density.sample_labelled(config.num_train, generator)
        heldout, heldout_labels = density.sample_labelled(config.num_heldout, generator)
        return Split(train, heldout, train_labels, heldout_labels, density.num_components)

    return DataSource(load, config.standardize, density)


def radial_mixture(config: configs.RadialMixtureConfig) -> DataSource:
    return _mixture_source(config, mixture.radial_mixture(config.num_modes, config.radius, config.std))


def gaussian_mixture(config: configs.GaussianMixtureConfig) -> DataSource:
    return _mixture_source(config, GaussianMixture(config.means, config.std, config.weights))


def standard_normal(config: configs.StandardNormalConfig) -> DataSource:
    return _mixture_source(config, mixture.standard_normal(config.dim))


def _toy(sampler: Callable[..., torch.Tensor]) -> Callable[[configs.ToyDataConfig], DataSource]:
    def build(config: configs.ToyDataConfig) -> DataSource:
        extra = {} if config.noise is None else {"noise": config.noise}
        return _synthetic(config, lambda n, g: sampler(n, generator=g, **extra))

    build.__doc__ = sampler.__doc__
    return build


swiss_roll = _toy(toy.swiss_roll)
two_moons = _toy(toy.two_moons)
rings = _toy(toy.rings)
spirals = _toy(toy.spirals)


def checkerboard(config: configs.ToyDataConfig) -> DataSource:
    if config.noise is not None:
        raise DataError("checkerboard has no noise parameter; leave data.noise out")
    return _synthetic(config, lambda n, g: toy.checkerboard(n, generator=g))


def _user_data(
    config: Any,
    read: Callable[[], np.ndarray],
    read_labels: Callable[[int], np.ndarray] | None = None,
    num_classes: int = 0,
) -> DataSource:
    """A fixed data set read by ``read()`` (and its labels by ``read_labels(N)``), split at random (from
    ``config.seed``) into train and held-out; labels follow their rows."""

    def load() -> tuple[torch.Tensor, torch.Tensor] | Split:
        x = torch.from_numpy(read())
        generator = torch.Generator().manual_seed(config.seed)
        if read_labels is None:
            return split(x, config.heldout_fraction, generator)
        labels = torch.from_numpy(read_labels(x.shape[0]))
        train, heldout = split(torch.arange(x.shape[0]), config.heldout_fraction, generator)  # the same rows
        return Split(x[train], x[heldout], labels[train], labels[heldout], num_classes)

    return DataSource(load, config.standardize)


def array_file(config: configs.FileDataConfig) -> DataSource:
    read_labels = None
    if config.labels_path is not None or config.labels_key is not None:
        labels_path = config.labels_path if config.labels_path is not None else config.path
        read_labels = lambda n: load_labels(Path(labels_path), config.labels_key, n)  # noqa: E731
    return _user_data(config, lambda: load_array(Path(config.path), config.key), read_labels)


def digits(config: configs.DigitsConfig) -> DataSource:
    """scikit-learn's digits, labelled by digit (0–9 whatever ``classes`` keeps, so label 7 is a 7)."""
    both: list[np.ndarray] = []

    def read() -> np.ndarray:
        both[:] = load_labelled_digits(config.classes)
        return both[0]

    return _user_data(config, read, lambda n: both[1], num_classes=10)


def images(config: configs.ImageDataConfig) -> DataSource:
    if config.labels == "folders":  # one subfolder per class
        both: list[np.ndarray] = []

        def read() -> np.ndarray:
            images, labels, _ = load_image_classes(
                Path(config.path),
                channels=config.channels,
                size=config.size,
                value_range=config.value_range,
                max_images=config.max_images,
            )
            both[:] = [images, labels]
            return images

        return _user_data(config, read, lambda n: both[1])
    return _user_data(
        config,
        lambda: load_images(
            Path(config.path),
            key=config.key,
            channels=config.channels,
            size=config.size,
            value_range=config.value_range,
            max_images=config.max_images,
        ),
    )
