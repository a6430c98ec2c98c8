"""Metrics as JSON lines: one object per logged step, appended and flushed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scorekit._io import atomic_write_text

__all__ = ["MetricsWriter"]


class MetricsWriter:
    def __init__(self, path: Path, *, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """On resume, drop records written after the checkpoint so the log has no duplicate steps."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines() if _step(line) <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))


def _step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 0
