"""Metrics as JSON lines: one object per logged step, appended and flushed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scorekit._io import MAX_CONFIG_BYTES, atomic_write_bytes, check_regular_file
from scorekit.errors import DataError

__all__ = ["MetricsWriter"]


class MetricsWriter:
    def __init__(self, path: Path, *, enabled: bool = True, tensorboard: Any = None) -> None:
        self.path = path
        self.enabled = enabled
        #: A second sink for every record (scorekit.engine.tensorboard.TensorBoardWriter), or None.
        self.tensorboard = tensorboard

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")
        if self.tensorboard is not None:
            self.tensorboard.write(record)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()

    def truncate_after(self, step: int) -> None:
        """On resume, drop records written after the checkpoint so the log has no duplicate steps.

        Only a regular file is read (a FIFO would hang); lines that are not metrics records (damaged,
        not UTF-8, without a numeric step) are kept as they are: nothing the user wrote is lost.
        """
        if not self.enabled or not self.path.exists():
            return
        check_regular_file(self.path, what="metrics log", error=DataError, max_bytes=64 * MAX_CONFIG_BYTES)
        text = self.path.read_bytes().decode("utf-8", errors="surrogateescape")
        kept = [line for line in text.splitlines() if _step(line) <= step]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode("utf-8", errors="surrogateescape"))


def _step(line: str) -> float:
    """The record's step; −∞ (kept) for a line that is not a record with a finite numeric step."""
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError, RecursionError):
        return float("-inf")
    if isinstance(step, bool) or not isinstance(step, int | float) or step != step or abs(step) == float("inf"):
        return float("-inf")
    return step
