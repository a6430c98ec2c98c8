"""One writer per run directory: an advisory lock (``fcntl.flock``) on ``RUN_DIR/.lock``.

Two processes training into one directory would overwrite each other's config and checkpoints,
and one's stale-temporary cleanup would delete the other's checkpoint mid-write. The lock is taken
before anything is written and held until training ends; the kernel releases it when the process
dies, however it dies, so a killed run never leaves a stale lock behind. The file keeps the holder's
PID for the message a second writer gets. Readers (sample, eval, score) take no lock: checkpoints
are replaced atomically, so they always read a whole one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from scorekit.errors import RunDirectoryError

__all__ = ["LOCK_FILE", "run_lock"]

LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s writer lock (creating the directory); RunDirectoryError("locked") if another
    process holds it. Where the platform has no ``fcntl`` (Windows) the lock is skipped."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on the supported platforms
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise RunDirectoryError(run_dir, "locked", holder=holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
