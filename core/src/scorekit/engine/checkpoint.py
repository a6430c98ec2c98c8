"""Checkpoints: one safetensors file per step, written atomically, loaded without executing code.

Weights, optimizer moments and RNG states are tensors in a safetensors file; everything else is
JSON in its header metadata. Nothing is ever unpickled, so a hostile file can at worst be rejected.
A checkpoint is written to a temporary file, flushed to disk and renamed over its final name, so a
crash mid-write leaves every earlier checkpoint intact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from scorekit._io import atomic_write_bytes, memory_budget, read_regular_bytes, remove_stale_temporaries
from scorekit.errors import CheckpointError

__all__ = ["Checkpoint", "latest_checkpoint", "list_checkpoints", "read_checkpoint", "write_checkpoint"]

FORMAT = "scorekit-checkpoint"
FORMAT_VERSION = 1
#: Steps beyond this are not a run's (10¹⁵ steps at 10⁶ steps/s would take 30 years).
MAX_STEP = 10**15
_NAME = re.compile(r"^step-(\d{8,})\.safetensors$")


@attrs.frozen
class Checkpoint:
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors stored under ``prefix/``, keyed by the rest of their name."""
        head = prefix + "/"
        return {k[len(head) :]: v for k, v in self.tensors.items() if k.startswith(head)}


def write_checkpoint(
    directory: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, keep: int
) -> Path:
    """Write ``step-<step>.safetensors`` atomically and keep only the newest ``keep`` checkpoints."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}.safetensors"
    header = {"format": FORMAT, "version": str(FORMAT_VERSION), "step": str(step), "meta": json.dumps(meta)}
    payload = safetensors_save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, header)
    remove_stale_temporaries(directory)
    atomic_write_bytes(final, payload)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints in ``directory``, oldest first (temporary files of interrupted writes ignored)."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def read_checkpoint(path: Path) -> Checkpoint:
    """Load and validate a checkpoint; any malformed file gives a CheckpointError naming it."""
    try:
        # A regular file only (a FIFO would hang, /dev/zero never ends), of a size that fits in memory.
        data = read_regular_bytes(path, what="checkpoint", error=CheckpointError, max_bytes=memory_budget()[0])
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc.strerror or exc}") from None
    if not data:
        raise CheckpointError(f"{path}: checkpoint is empty")
    try:
        header = _header(data)
        tensors = safetensors_load(data)
    except Exception as exc:  # safetensors raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a valid safetensors checkpoint ({exc})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a scorekit checkpoint (no '{FORMAT}' header)")
    if header.get("version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: checkpoint format version {header.get('version')!r} is not supported")
    try:
        step = int(header["step"])
        meta = json.loads(header["meta"])
    except (KeyError, ValueError, RecursionError) as exc:  # RecursionError: metadata nested beyond reason
        raise CheckpointError(f"{path}: malformed checkpoint header ({type(exc).__name__})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: malformed checkpoint header (metadata is not a table)")
    if not 0 <= step <= MAX_STEP:
        raise CheckpointError(f"{path}: checkpoint step {step} is out of range [0, {MAX_STEP}]")
    named = _NAME.match(path.name)
    if named is not None and int(named.group(1)) != step:  # a renamed file would resume at the wrong step
        raise CheckpointError(f"{path}: the file name says step {int(named.group(1))}, its header step {step}")
    return Checkpoint(step, tensors, meta)


def _header(data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__`` (an 8-byte length, then JSON)."""
    if len(data) < 8:
        raise ValueError("file too short")
    length = int.from_bytes(data[:8], "little")
    if length <= 0 or 8 + length > len(data):
        raise ValueError("header length out of range")
    header = json.loads(data[8 : 8 + length])
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}
