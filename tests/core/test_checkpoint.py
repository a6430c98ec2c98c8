"""Checkpoints: atomic writes, retention, and rejection of anything that is not ours — without executing it."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from scorekit.engine.checkpoint import latest_checkpoint, list_checkpoints, read_checkpoint, write_checkpoint
from scorekit.errors import CheckpointError


def test_round_trip_and_retention(tmp_path: Path) -> None:
    tensors = {"model/w": torch.randn(3, 4), "rng/train": torch.Generator().get_state()}
    for step in (10, 20, 30, 40):
        write_checkpoint(tmp_path, step, tensors, {"note": step}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000030.safetensors", "step-00000040.safetensors"]
    checkpoint = read_checkpoint(latest_checkpoint(tmp_path))  # type: ignore[arg-type]
    assert checkpoint.step == 40 and checkpoint.meta == {"note": 40}
    assert torch.equal(checkpoint.group("model")["w"], tensors["model/w"])


def test_interrupted_write_leaves_previous_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, {"model/w": torch.ones(2)}, {}, keep=3)
    # What a crash mid-write leaves behind: a partial temporary file, never the final name.
    (tmp_path / ".step-00000002.safetensors.tmp-123").write_bytes(b"\x00" * 10)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001.safetensors"]
    assert read_checkpoint(latest_checkpoint(tmp_path)).step == 1  # type: ignore[arg-type]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "pickle", "foreign"])
def test_bad_files_are_rejected_and_execute_nothing(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "step-00000001.safetensors"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(256))
    elif kind == "truncated":
        good = write_checkpoint(tmp_path / "good", 1, {"model/w": torch.randn(100)}, {}, keep=1)
        path.write_bytes(good.read_bytes()[:-50])
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        from safetensors.torch import save_file

        save_file({"w": torch.ones(1)}, path)
    with pytest.raises(CheckpointError, match=str(path)):
        read_checkpoint(path)
    assert not marker.exists()
