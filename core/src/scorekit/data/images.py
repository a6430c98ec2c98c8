"""Image data sets: scikit-learn's 8×8 digits, and the user's own images from a folder or an array file.

Every loader returns float32 images (N, C, H, W) in [−1, 1], the data space of image diffusion
models (Ho et al. 2020): the input range [low, high] is mapped linearly by
x ↦ (2x − low − high) / (high − low).

Image files are decoded by Pillow with its decompression-bomb check left on: an image with more
pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` is refused with a DataError, not merely warned about.
Without ``size``, an image wider or taller than :data:`~scorekit.validators.MAX_IMAGE_SIDE` is refused
from its header, before it is decoded; and the images as float32, N × C × H × W × 4 bytes, must fit
the memory budget (:func:`scorekit._io.memory_budget`) before they are stacked or resized. Only
regular files are opened. Arrays are read by :func:`scorekit.data.arrays.load_array`, which never
unpickles and checks an array's size before reading it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from scorekit._io import format_bytes, memory_budget, open_regular_file
from scorekit.data.arrays import load_array
from scorekit.errors import DataError
from scorekit.validators import MAX_IMAGE_SIDE

__all__ = ["IMAGE_SUFFIXES", "load_digits", "load_image_classes", "load_images", "load_labelled_digits"]

#: File name endings read from a folder (compared case-insensitively).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")

# Pillow mode an image file is converted to, by number of channels.
_MODES = {1: "L", 3: "RGB"}


def load_digits(classes: Sequence[int] | None = None) -> np.ndarray:
    """scikit-learn's handwritten digits (1,797 8×8 images, gray levels 0..16) as float32 (N, 1, 8, 8).

    A gray level v becomes v/8 − 1, so the images lie in [−1, 1]; `classes` keeps only those digits.
    """
    return load_labelled_digits(classes)[0]


def load_labelled_digits(classes: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_digits`'s images and their digits 0–9, int64 (N,)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DataError(
            "digits: the data set comes with scikit-learn: pip install scikit-learn (or scorekit-core[images])"
        ) from None
    bunch = sklearn_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    if classes is not None:
        keep = np.isin(labels, list(classes))
        images, labels = images[keep], labels[keep]
    return (images[:, None] / 8 - 1).astype(np.float32), labels


def load_images(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    channels: int = 1,
    size: Sequence[int] | None = None,
    value_range: Sequence[float] | None = None,
    max_images: int = 100_000,
) -> np.ndarray:
    """The user's images as float32 (N, C, H, W) in [−1, 1], from a folder or a .npy / .npz file.

    A folder: every file ending in one of IMAGE_SUFFIXES, in name order (hidden files and
    subfolders are skipped), read with Pillow as gray ("L", C = 1) or RGB (C = 3); only the
    first frame of an animation, alpha dropped. An array: (N, H, W) is read as C = 1; a 4-D
    array is (N, C, H, W) when its second axis is 1 or 3, else (N, H, W, C) when its last axis
    is 1 or 3; C must equal `channels`.

    `size` [H, W] resizes every image (Lanczos); without it all images must share one size.
    `value_range` [low, high] is the input range mapped to [−1, 1]; by default [0, 255] for
    integer data (image files always), [0, 1] for float data lying in it, and other float data
    must state it. Values outside the range, more than `max_images` images, fewer than 2, and
    unreadable files are DataErrors whose message starts with the offending path.
    """
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        raw = _read_folder(Path(path), channels, size, max_images)
    else:
        raw = _read_array(path, key, channels, max_images)
    return _scaled(path, raw, value_range, size)


def _scaled(
    path: str | os.PathLike[str], raw: np.ndarray, value_range: Sequence[float] | None, size: Sequence[int] | None
) -> np.ndarray:
    """``raw`` mapped from its value range to [−1, 1] as float32, resized to ``size`` when given."""
    low, high = _range(path, raw, value_range)
    height, width = size if size is not None else raw.shape[2:]
    _check_memory(path, raw.shape[0], raw.shape[1], height, width)
    images = raw.astype(np.float32)
    images *= 2
    images -= low + high
    images /= high - low
    if size is not None and images.shape[2:] != tuple(size):
        images = _resize_arrays(images, size)
    # Rounding (and Lanczos overshoot when resizing) can step just past the ends.
    return np.clip(images, -1, 1, out=images)


def _read_folder(folder: Path, channels: int, size: Sequence[int] | None, max_images: int) -> np.ndarray:
    """The folder's image files as uint8 (N, C, H, W)."""
    entries = sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
    if not entries:
        raise DataError(f"{folder}: the folder is empty")
    # Anything with an image's name is read: a FIFO or a device named so is refused, not skipped.
    files = [entry for entry in entries if not entry.is_dir() and entry.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{folder}: holds no image files ({' '.join(IMAGE_SUFFIXES)}; subfolders are not searched)")
    if len(files) > max_images:
        raise DataError(f"{folder}: holds {len(files)} images, more than max_images = {max_images}")
    if len(files) < 2:
        raise DataError(f"{folder}: holds a single image; at least 2 are needed to split off held-out data")
    return _read_files(folder, files, channels, size)


def _read_files(where: Path, files: list[Path], channels: int, size: Sequence[int] | None) -> np.ndarray:
    """The image ``files`` as uint8 (N, C, H, W), all of one size (or resized to ``size``)."""
    first = _read_image(files[0], channels, size)
    _check_memory(where, len(files), *first.shape)
    images = np.empty((len(files), *first.shape), dtype=np.uint8)
    images[0] = first
    for index, file in enumerate(files[1:], start=1):
        image = _read_image(file, channels, size)
        if image.shape != first.shape:
            (height, width), (first_height, first_width) = image.shape[1:], first.shape[1:]
            raise DataError(
                f"{file}: is {height}×{width} pixels (H×W) but {files[0].name} is {first_height}×{first_width}; "
                "all images must share one size, or set size = [H, W] to resize them"
            )
        images[index] = image
    return images


def load_image_classes(
    path: str | os.PathLike[str],
    *,
    channels: int = 1,
    size: Sequence[int] | None = None,
    value_range: Sequence[float] | None = None,
    max_images: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images labelled by the subfolder they are in: (float32 (N, C, H, W) in [−1, 1] as :func:`load_images`
    gives them, int64 labels (N,), the class names). The subfolders of ``path`` (hidden ones skipped)
    are the classes, in name order from 0; each holds image files (its own subfolders are not searched)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f'{folder}: labels = "folders" needs a folder of class subfolders')
    classes = sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DataError(f'{folder}: holds no subfolders; with labels = "folders" each subfolder is a class')
    files: list[Path] = []
    labels: list[int] = []
    for index, subfolder in enumerate(classes):
        found = sorted(
            entry
            for entry in subfolder.iterdir()
            if not entry.name.startswith(".") and not entry.is_dir() and entry.suffix.lower() in IMAGE_SUFFIXES
        )
        if not found:
            raise DataError(f"{subfolder}: the class folder holds no image files ({' '.join(IMAGE_SUFFIXES)})")
        files += found
        labels += [index] * len(found)
    if len(files) > max_images:
        raise DataError(f"{folder}: holds {len(files)} images, more than max_images = {max_images}")
    if len(files) < 2:
        raise DataError(f"{folder}: holds a single image; at least 2 are needed to split off held-out data")
    raw = _read_files(folder, files, channels, size)
    images = _scaled(folder, raw, value_range, size)
    return images, np.asarray(labels, dtype=np.int64), [c.name for c in classes]


def _read_image(file: Path, channels: int, size: Sequence[int] | None) -> np.ndarray:
    """One image file as uint8 (C, H, W), resized to `size` if given."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_regular_file(file, what="image") as opened, Image.open(opened) as image:
                # Pillow has read the header only: refuse a huge image before decoding it.
                if size is None and max(image.size) > MAX_IMAGE_SIDE:
                    raise DataError(
                        f"{file}: is {image.height}×{image.width} pixels (H×W); images larger than "
                        f"{MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} are read only when size = [H, W] resizes them"
                    )
                if image.mode.startswith(("I", "F")):
                    raise DataError(
                        f"{file}: {image.mode} images (16-bit or float) are not read; "
                        "save 8-bit images, or the images as an array in a .npy file"
                    )
                source: Image.Image = image
                # Pillow asks for this step itself (with a warning) before dropping such transparency.
                if image.mode == "P" and "transparency" in image.info:
                    source = image.convert("RGBA")
                converted = source.convert(_MODES[channels])
                if size is not None and converted.size != (size[1], size[0]):
                    converted = converted.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise DataError(f"{file}: refused by Pillow's decompression-bomb check: {error}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise DataError(f"{file}: cannot read image: {error}") from None
    pixels = np.asarray(converted)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _check_memory(path: str | os.PathLike[str], count: int, channels: int, height: int, width: int) -> None:
    """Refuse images that would take more memory as float32 than the memory budget allows."""
    need = count * channels * height * width * 4
    budget, named = memory_budget()
    if need > budget:
        raise DataError(
            f"{path}: {count:,} images of {channels}×{height}×{width} (C×H×W) would take {format_bytes(need)} "
            f"as float32, more than {named}; use fewer images, or smaller ones (size = [H, W])"
        )


def _read_array(path: str | os.PathLike[str], key: str | None, channels: int, max_images: int) -> np.ndarray:
    """The images of a .npy / .npz file, (N, C, H, W) in their stored dtype."""
    array = load_array(path, key, ndims=(3, 4), dtype=None)
    if array.ndim == 3:
        array = array[:, None]
    elif array.shape[1] not in _MODES:
        if array.shape[3] not in _MODES:
            raise DataError(
                f"{path}: expected images (N, H, W), (N, C, H, W) or (N, H, W, C) with C = 1 or 3, "
                f"got shape {array.shape}"
            )
        array = array.transpose(0, 3, 1, 2)
    if array.shape[1] != channels:
        raise DataError(
            f"{path}: the images have {array.shape[1]} channel(s) but channels = {channels}; "
            f"set channels = {array.shape[1]}"
        )
    if len(array) > max_images:
        raise DataError(f"{path}: holds {len(array)} images, more than max_images = {max_images}")
    return array


def _range(path: str | os.PathLike[str], raw: np.ndarray, value_range: Sequence[float] | None) -> tuple[float, float]:
    """The input range [low, high] mapped to [−1, 1], after checking that the data lie in it."""
    lowest, highest = float(raw.min()), float(raw.max())
    integer = np.issubdtype(raw.dtype, np.integer)
    if value_range is not None:
        low, high = float(value_range[0]), float(value_range[1])
    elif integer:
        low, high = 0.0, 255.0
    elif lowest >= 0 and highest <= 1:
        return 0.0, 1.0
    else:
        raise DataError(
            f"{path}: float values span [{lowest:.6g}, {highest:.6g}], not [0, 1]; "
            "set value_range = [low, high], the range mapped to [-1, 1]"
        )
    if lowest < low or highest > high:
        default = " (the default for integer data; set value_range to change it)" if value_range is None else ""
        raise DataError(
            f"{path}: values span [{lowest:.6g}, {highest:.6g}], outside value_range [{low:g}, {high:g}]{default}"
        )
    return low, high


def _resize_arrays(images: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """float32 images (N, C, H, W) resized to `size` [H, W], channel by channel with Lanczos."""
    height, width = size
    resized = np.empty((*images.shape[:2], height, width), dtype=np.float32)
    for index, image in enumerate(images):
        for channel, plane in enumerate(image):
            resized[index, channel] = np.asarray(
                Image.fromarray(np.ascontiguousarray(plane)).resize((width, height), Image.Resampling.LANCZOS)
            )
    return resized
