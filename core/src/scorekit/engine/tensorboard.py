"""The optional TensorBoard writer of training (``train.tensorboard = true``; ``pip install "scorekit[tensorboard]"``).

The ``tensorboard`` package's own event writer (through ``torch.utils.tensorboard.SummaryWriter``),
in ``RUN_DIR/tensorboard``: every logged record's numbers as scalars ``train/<name>`` at its step
(loss, lr, grad_norm, steps_per_second, skipped_steps). A resumed run opens the same folder with
``purge_step`` = the checkpoint's step + 1, so that what the interrupted run had logged past its
last checkpoint is dropped by TensorBoard and no step appears twice.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from scorekit.errors import UserError

__all__ = ["TENSORBOARD_DIR", "TensorBoardWriter"]

TENSORBOARD_DIR = "tensorboard"


class TensorBoardWriter:
    """Scalars of training records to a TensorBoard event file in ``log_dir``."""

    def __init__(self, log_dir: Path, start_step: int) -> None:
        summary_writer = self.require()
        self.writer = summary_writer(str(log_dir), purge_step=start_step + 1 if start_step > 0 else None)

    @staticmethod
    def require() -> Any:
        """torch's SummaryWriter class, or a UserError in one line saying what to install."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                'train.tensorboard needs the tensorboard package: pip install "scorekit[tensorboard]" '
                "(or pip install tensorboard)"
            ) from None
        return SummaryWriter

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for name, value in record.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if name != "step" and number and math.isfinite(value):
                self.writer.add_scalar(f"train/{name}", value, step)

    def close(self) -> None:
        self.writer.close()
