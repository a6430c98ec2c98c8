"""Atomic file writes: the one way scorekit replaces a file that a crash must not leave half-written."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries"]

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

    A crash at any moment leaves either the old file or the new one, never a mixture.
    """
    temporary = path.parent / f".{path.name}{_TMP_MARK}{os.getpid()}"
    with temporary.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
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
