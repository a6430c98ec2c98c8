"""Loading user data sets from .npy / .npz files, and train / held-out splits.

Files are read with numpy's `allow_pickle=False` without exception: a .npy file
may hold pickled objects, and unpickling runs arbitrary code, so object arrays
are refused with a DataError instead of being loaded, and a file that is not in
.npy or .npz format (which numpy would try to unpickle) is never handed to numpy.

Reads are bounded: only regular files are opened (a FIFO would hang, /dev/zero
never ends), and an array's header is checked before its data are read: a shape
larger than the file (or the archive member) that holds it, or than the memory
budget of :func:`scorekit._io.memory_budget`, is a DataError, not an allocation.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import IO, BinaryIO

import numpy as np
import torch
from torch import Tensor

from scorekit._io import format_bytes, memory_budget, open_regular_file
from scorekit.errors import DataError

__all__ = ["MAX_CLASSES", "load_array", "load_labels", "load_mask", "split"]

#: The most classes a labelled data set may have (labels 0 … MAX_CLASSES − 1).
MAX_CLASSES = 100_000


# Leading bytes of a .npy file and of a zip archive (.npz); numpy takes anything else for a pickle.
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def _object_array(path: str | os.PathLike[str]) -> DataError:
    return DataError(
        f"{path}: holds an object array (pickled Python objects), which is never loaded because "
        "unpickling can run arbitrary code; save a numeric array instead"
    )


def _check_header(stream: IO[bytes], holds: int, path: str | os.PathLike[str], member: str | None) -> None:
    """Read the .npy header at the start of ``stream`` and refuse, before anything is allocated, an
    array larger than the ``holds`` bytes it came in (a truncated file or a lying header) or than the
    memory budget; an object array is refused here too. ``member``: its name in an archive, or None."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:  # (2, 0) and (3, 0): a 4-byte header length; 3.0's UTF-8 is read as Latin-1, which alters no size
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.hasobject:
        raise _object_array(path)
    array, holder = (f"member {member!r}", f"member {member!r}") if member is not None else ("the array", "the file")
    count = math.prod(shape)
    data = count * dtype.itemsize
    if stream.tell() + data > holds:
        raise DataError(
            f"{path}: cannot read file: the header of {array} declares shape {shape} {dtype} = "
            f"{format_bytes(data)}, but {holder} holds {format_bytes(holds)} in all"
        )
    # The array as stored, or as the float32 copy made of narrower data, whichever is larger.
    need = count * max(dtype.itemsize, 4)
    budget, named = memory_budget()
    if need > budget:
        as_float = " (as float32)" if dtype.itemsize < 4 else ""
        raise DataError(
            f"{path}: {array}, of shape {shape} {dtype}, would take {format_bytes(need)} of memory{as_float}, "
            f"more than {named}"
        )


def _read_npz(file: BinaryIO, path: str | os.PathLike[str], key: str | None) -> np.ndarray:
    """The array ``key`` of an .npz archive, its member's header checked before decompressing anything."""
    with zipfile.ZipFile(file) as archive:
        members = archive.namelist()
        # numpy's names: a member 'x.npy' is the array 'x'.
        names = [member.removesuffix(".npy") for member in members]
        available = ", ".join(repr(name) for name in names) or "none"
        if key is None:
            if len(names) != 1:
                raise DataError(
                    f"{path}: the archive holds {len(names)} arrays; choose one with a key (available: {available})"
                )
            key = names[0]
        elif key not in names:
            raise DataError(f"{path}: the archive has no array {key!r} (available: {available})")
        info = archive.getinfo(members[names.index(key)])
        with archive.open(info) as stream:
            # A zip member that is not itself a .npy file.
            if stream.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                raise DataError(f"{path}: archive member {key!r} is not a .npy array")
            stream.seek(0)
            _check_header(stream, info.file_size, path, key)
            stream.seek(0)
            return np.lib.format.read_array(stream, allow_pickle=False)


def _read(path: str | os.PathLike[str], key: str | None) -> np.ndarray:
    """The raw array stored in `path` (under `key` for an .npz archive), or a DataError.

    `path` must be a regular file (a FIFO would hang, a device such as /dev/zero never ends), and the
    array's header is read first: a shape larger than the file, or than the memory budget
    (:func:`scorekit._io.memory_budget`), is refused before any memory is allocated for it.
    """
    try:
        # The file is opened here rather than by np.load, which leaks its handle when an
        # .npz archive turns out to be corrupt.
        with open_regular_file(path, what="data file") as file:
            magic = file.read(len(_NPY_MAGIC))
            if not magic:
                raise DataError(f"{path}: cannot read file: it is empty")
            if not (magic == _NPY_MAGIC or magic.startswith(_ZIP_MAGIC)):
                raise DataError(f"{path}: cannot read file: it is neither in .npy nor in .npz format")
            file.seek(0)
            if magic.startswith(_ZIP_MAGIC):
                return _read_npz(file, path, key)
            if key is not None:
                raise DataError(f"{path}: key {key!r} given, but the file holds a single array, not an .npz archive")
            _check_header(file, os.fstat(file.fileno()).st_size, path, None)
            file.seek(0)
            return np.lib.format.read_array(file, allow_pickle=False)
    except ValueError as error:
        # numpy refuses object arrays under allow_pickle=False with a ValueError naming that
        # flag; say plainly why the file is refused rather than echo the flag.
        if "allow_pickle" in str(error):
            raise _object_array(path) from None
        raise DataError(f"{path}: cannot read file: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as error:
        # NotImplementedError and RuntimeError: an unsupported compression or an encrypted member.
        raise DataError(f"{path}: cannot read file: {error}") from None
    except MemoryError:
        raise DataError(f"{path}: cannot read file: not enough memory for the array") from None


def load_array(
    path: str | os.PathLike[str],
    key: str | None = None,
    *,
    ndims: tuple[int, ...] = (2,),
    dtype: type[np.generic] | None = np.float32,
    min_points: int = 2,
) -> np.ndarray:
    """Load a data set of N points in d dimensions from a .npy or .npz file, as float32 (N, d).

    For an .npz archive `key` names the array; it may be left out when the archive
    holds exactly one. The array must be numeric (integer or float), 2-D with N ≥ 2
    and d ≥ 1, and finite. Every failure is a DataError whose message starts with
    the path.

    `ndims` admits other ranks, e.g. ``(3, 4)`` for images (N, H, W) or (N, C, H, W),
    with N ≥ 2 along the first axis and no empty axis; `dtype` None keeps the
    stored (integer or float) dtype. `min_points` lowers the N ≥ 2 a data set needs to
    1 for points to evaluate at (``scorekit score``, ``logprob``).
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected a .npy or .npz file")
    array = _read(path, key)
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise DataError(f"{path}: expected a numeric (integer or float) array, got dtype {array.dtype}")
    points = ndims == (2,)
    if array.ndim not in ndims:
        expected = "a float array of shape (N, d)" if points else f"a {' or '.join(f'{n}-D' for n in ndims)} array"
        raise DataError(f"{path}: expected {expected}, got shape {array.shape}")
    num_points = array.shape[0]
    if num_points < min_points or 0 in array.shape:
        expected = "of at least 1 dimension" if points else "and no empty axis"
        count = f"{min_points} points" if min_points != 1 else "1 point"
        raise DataError(f"{path}: expected at least {count} {expected}, got shape {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        bad_rows = int((~finite).reshape(num_points, -1).any(axis=1).sum())
        raise DataError(
            f"{path}: contains {int((~finite).sum())} non-finite values (NaN or Inf) in {bad_rows} of {num_points} rows"
        )
    float32_max = np.finfo(np.float32).max
    if np.abs(array).max() > float32_max:
        raise DataError(f"{path}: has values beyond the float32 range (±{float32_max:.3g})")
    return np.ascontiguousarray(array, dtype=dtype)


def load_labels(path: str | os.PathLike[str], key: str | None, num_points: int) -> np.ndarray:
    """Class labels for ``num_points`` rows from a .npy file or an .npz member: int64 (N,), each in
    [0, MAX_CLASSES). Integer-valued floats are accepted; anything else is a DataError naming the path."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file (the labels)")
    labels = _read(path, key)
    where = f"{path}" + (f" [{key}]" if key else "")
    if labels.ndim != 1 or labels.shape[0] != num_points:
        raise DataError(
            f"{where}: expected labels of shape ({num_points},), one per data point, got shape {labels.shape}"
        )
    if np.issubdtype(labels.dtype, np.floating):
        if not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
            raise DataError(f"{where}: labels must be integers, got non-integer values")
    elif not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= MAX_CLASSES:
        raise DataError(f"{where}: labels must lie in [0, {MAX_CLASSES}), got {labels.min()} to {labels.max()}")
    return labels.astype(np.int64)


def split(x: Tensor, heldout_fraction: float, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Split the rows of x at random into (train, held_out), both non-empty.

    The held-out part has round(heldout_fraction · N) rows, clipped to [1, N − 1];
    which rows is decided by one random permutation drawn from `generator`.
    """
    num_points = x.shape[0]
    if num_points < 2:
        raise ValueError(f"need at least 2 points to split, got {num_points}")
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must lie strictly between 0 and 1, got {heldout_fraction}")
    num_heldout = min(max(round(heldout_fraction * num_points), 1), num_points - 1)
    device = generator.device if generator is not None else torch.device("cpu")
    order = torch.randperm(num_points, generator=generator, device=device).to(x.device)
    return x[order[num_heldout:]], x[order[:num_heldout]]


def load_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A mask array from a .npy file (or the one array of an .npz), as stored: bool, integer or float.

    Read as safely as data (:func:`load_array`: a regular file, the header checked first, no
    pickles); whether its shape and values fit is for the caller, who knows the data it masks.
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file (the mask)")
    mask = _read(path, None)
    if not (mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise DataError(f"{path}: the mask must hold 0s and 1s (bool, integers or floats), got dtype {mask.dtype}")
    return mask
