"""Data sources: what a ``[data]`` section builds, and the bundle the engine trains on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from scorekit.builtins import configs
from scorekit.data import mixture, toy
from scorekit.data.arrays import load_array, split
from scorekit.data.images import load_digits, load_images
from scorekit.data.mixture import GaussianMixture
from scorekit.data.standardize import Standardizer
from scorekit.errors import DataError

__all__ = [
    "DataBundle",
    "DataSource",
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
    which makes exact scores, log-densities and mode weights available to evaluation.
    """

    train: torch.Tensor
    heldout: torch.Tensor
    standardizer: Standardizer
    density: GaussianMixture | None = None

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])


@attrs.frozen
class DataSource:
    """A data set: ``load()`` gives (train, held-out) in data space; ``density`` if known."""

    load: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    standardize: str
    density: GaussianMixture | None = None


def prepare(source: DataSource) -> DataBundle:
    """Load a source and standardize it with statistics of the training split only."""
    train, heldout = source.load()
    standardizer = Standardizer.fit(train, source.standardize)
    return DataBundle(standardizer.forward(train), standardizer.forward(heldout), standardizer, source.density)


def _synthetic(config: Any, draw: Callable[[int, torch.Generator], torch.Tensor], density: Any = None) -> DataSource:
    def load() -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(config.seed)
        return draw(config.num_train, generator), draw(config.num_heldout, generator)

    return DataSource(load, config.standardize, density)


def _mixture_source(config: Any, density: GaussianMixture) -> DataSource:
    return _synthetic(config, lambda n, g: density.sample(n, generator=g), density)


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


def _user_data(config: Any, read: Callable[[], np.ndarray]) -> DataSource:
    """A fixed data set read by ``read()``, split at random (from ``config.seed``) into train and held-out."""

    def load() -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(config.seed)
        return split(torch.from_numpy(read()), config.heldout_fraction, generator)

    return DataSource(load, config.standardize)


def array_file(config: configs.FileDataConfig) -> DataSource:
    return _user_data(config, lambda: load_array(Path(config.path), config.key))


def digits(config: configs.DigitsConfig) -> DataSource:
    return _user_data(config, lambda: load_digits(config.classes))


def images(config: configs.ImageDataConfig) -> DataSource:
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
