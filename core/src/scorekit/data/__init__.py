"""Data sets: exact Gaussian mixtures, 2-D toy distributions, user arrays and images, standardization."""

from __future__ import annotations

from scorekit.data.arrays import load_array, split
from scorekit.data.images import load_digits, load_images
from scorekit.data.mixture import GaussianMixture, eight_gaussians, standard_normal
from scorekit.data.standardize import Standardizer
from scorekit.data.toy import checkerboard, checkerboard_log_prob, rings, spirals, swiss_roll, two_moons

__all__ = [
    "GaussianMixture",
    "Standardizer",
    "checkerboard",
    "checkerboard_log_prob",
    "eight_gaussians",
    "load_array",
    "load_digits",
    "load_images",
    "rings",
    "spirals",
    "split",
    "standard_normal",
    "swiss_roll",
    "two_moons",
]
