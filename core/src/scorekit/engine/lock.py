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
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from scorekit.errors import RunDirectoryError, UserError

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
    path = run_dir / LOCK_FILE
    # Never through a symlink (training would truncate whatever it points to) nor into a FIFO or device.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise UserError(f"{path} is a symbolic link; remove it (scorekit keeps its lock file there)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path} is not a regular file; remove it (scorekit keeps its lock file there)")
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
