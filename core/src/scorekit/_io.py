"""Atomic file writes, the one way scorekit replaces a file that a crash must not leave half-written;
and bounded reads of the user's files: regular files only (a FIFO would hang, ``/dev/zero`` never
ends), of a size checked before it is read, against limits that the messages name."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from scorekit.errors import DataError, ScorekitError

__all__ = [
    "MAX_ARRAY_BYTES",
    "MAX_CONFIG_BYTES",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_regular_file",
    "format_bytes",
    "memory_budget",
    "open_regular_file",
    "read_regular_bytes",
    "remove_stale_temporaries",
]

_TMP_MARK = ".tmp-"


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``.

    A crash at any moment leaves either the old file or the new one, never a mixture; a failure to
    write (a full disk, a read-only directory) raises the OSError after removing the temporary file.
    """
    temporary = path.parent / f".{path.name}{_TMP_MARK}{os.getpid()}"
    try:
        with temporary.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files that interrupted writes of other processes left behind."""
    if not directory.is_dir():
        return
    mine = f"{_TMP_MARK}{os.getpid()}"
    for path in directory.iterdir():
        if path.name.startswith(".") and _TMP_MARK in path.name and not path.name.endswith(mine):
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- bounded reads of the user's files

#: The largest config file (TOML) read: far more than any real config, far less than a mistake can be.
MAX_CONFIG_BYTES = 2**20
#: The most memory one array read from a user's file may take (counted as float32, or its own
#: dtype if wider); :func:`memory_budget` lowers it to half the physical memory of a smaller machine.
MAX_ARRAY_BYTES = 4 * 2**30

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def format_bytes(size: int) -> str:
    """``192 bytes``, ``1 MiB``, ``14.6 TiB``: a size for a message, in binary units, 3 significant digits."""
    if size < 1024:
        return f"{size} byte" + ("" if size == 1 else "s")
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            break
    return f"{value:.3g} {unit}"


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def memory_budget() -> tuple[int, str]:
    """The most bytes one array read from a file may take, and the words that name that limit.

    :data:`MAX_ARRAY_BYTES` (``"the 4 GiB memory budget for one array"``), or half the physical
    memory where that is less (``"half of this machine's 7.6 GiB of memory"``).
    """
    physical = _physical_memory()
    if physical is not None and physical // 2 < MAX_ARRAY_BYTES:
        return physical // 2, f"half of this machine's {format_bytes(physical)} of memory"
    return MAX_ARRAY_BYTES, f"the {format_bytes(MAX_ARRAY_BYTES)} memory budget for one array"


def _not_regular(path: str | os.PathLike[str], mode: int) -> str:
    """``"{path}: is a FIFO (named pipe), not a regular file"``, naming a symlink's target."""
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
    if os.path.islink(path):
        return f"{os.fspath(path)}: links to {os.path.realpath(path)}, {kind}, not a regular file"
    return f"{os.fspath(path)}: is {kind}, not a regular file"


def check_regular_file(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    error: type[ScorekitError] = DataError,
    max_bytes: int | None = None,
) -> int:
    """The size in bytes of ``path``, a regular file (symlinks followed) of at most ``max_bytes``.

    Anything else raises ``error`` with one line that starts with the path: a FIFO (reading it would
    hang), a device such as ``/dev/zero`` or a symlink to one (endless), a directory or a socket;
    a file larger than ``max_bytes`` is named with its size and the limit (``what`` names the file:
    "config", "checkpoint"). ``OSError`` (``FileNotFoundError``, ``PermissionError``) propagates for
    the caller to phrase. Only looks: :func:`open_regular_file` also opens, without a race.
    """
    mode_and_size = os.stat(path)
    if not stat.S_ISREG(mode_and_size.st_mode):
        raise error(_not_regular(path, mode_and_size.st_mode))
    _check_size(path, mode_and_size.st_size, what, error, max_bytes)
    return mode_and_size.st_size


def _check_size(
    path: str | os.PathLike[str], size: int, what: str, error: type[ScorekitError], max_bytes: int | None
) -> None:
    if max_bytes is not None and size > max_bytes:
        shown, limit = format_bytes(size), format_bytes(max_bytes)
        if shown == limit:  # 1 MiB and 3 bytes
            shown, limit = f"{size:,} bytes", f"{max_bytes:,} bytes ({limit})"
        raise error(f"{os.fspath(path)}: is {shown}, more than the {limit} a {what} may be")


def open_regular_file(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    error: type[ScorekitError] = DataError,
    max_bytes: int | None = None,
) -> BinaryIO:
    """``path`` opened for reading in binary, after :func:`check_regular_file`'s checks.

    The file is opened without blocking and checked again through its descriptor, so a file swapped
    for a FIFO between the two checks is refused too, never waited on. Pass the file object on (to
    ``np.load``, ``torch.load``) rather than the path. Raises ``error`` or ``OSError`` as
    :func:`check_regular_file` does.
    """
    check_regular_file(path, what=what, error=error, max_bytes=max_bytes)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise error(_not_regular(path, opened.st_mode))
        _check_size(path, opened.st_size, what, error, max_bytes)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    error: type[ScorekitError] = DataError,
    max_bytes: int,
) -> bytes:
    """The contents of ``path``, a regular file of at most ``max_bytes`` (e.g. :data:`MAX_CONFIG_BYTES`).

    Reads no more than ``max_bytes + 1`` bytes whatever the file claims, so a file that grows while
    read, or one whose size the system reports as 0 (``/proc``), stays bounded. Raises as
    :func:`open_regular_file`.
    """
    with open_regular_file(path, what=what, error=error, max_bytes=max_bytes) as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{os.fspath(path)}: is more than the {format_bytes(max_bytes)} a {what} may be")
    return data
