"""DDP on CPU through torchrun (gloo): 2 processes against one, and exact resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scorekit.engine.checkpoint import list_checkpoints, read_checkpoint
from tests.conftest import small_config, write_toml


def _scorekit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "scorekit", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def _final_loss(run_dir: Path, windows: int) -> float:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return sum(r["loss"] for r in records[-windows:]) / windows


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    train = {"steps": 600, "batch_size": 256, "log_every": 100, "checkpoint_every": 300, "lr_schedule": "constant"}
    return write_toml(tmp_path_factory.mktemp("ddp") / "c.toml", small_config(train=train))


def test_two_processes_match_one_with_the_same_global_batch(config: Path, tmp_path: Path) -> None:
    single = _scorekit("train", config, "--run-dir", tmp_path / "one")
    assert single.returncode == 0, single.stderr
    double = _scorekit("train", config, "--run-dir", tmp_path / "two", "--nproc", "2")
    assert double.returncode == 0, double.stderr
    # Rank 0 alone wrote: one metrics line per log step, one set of checkpoints, one picture.
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 6
    assert (tmp_path / "two" / "samples.png").exists()
    meta = read_checkpoint(list_checkpoints(tmp_path / "two" / "checkpoints")[-1]).meta
    assert meta["world_size"] == 2
    # Different noise draws, same objective and global batch: the loss over the last 300 steps
    # (2 windows × 100 steps × 256 samples; per-sample sd ≈ 0.7, so a standard error ≈ 0.003
    # per run) agrees within 0.03, well above that noise and far below the loss drop of training.
    one, two = _final_loss(tmp_path / "one", 3), _final_loss(tmp_path / "two", 3)
    assert abs(one - two) < 0.03, (one, two)


def test_distributed_resume_is_exact(tmp_path: Path) -> None:
    # Exactness does not depend on the length of the run: 40 steps, a checkpoint at 20, no pictures.
    train = {"steps": 40, "batch_size": 256, "log_every": 10, "checkpoint_every": 20, "lr_schedule": "constant"}
    config = write_toml(tmp_path / "c.toml", small_config(train=train))
    full = _scorekit("train", config, "--run-dir", tmp_path / "full", "--nproc", "2", "--no-pictures")
    assert full.returncode == 0, full.stderr
    part = _scorekit(
        "train", config, "--run-dir", tmp_path / "part", "--nproc", "2", "--no-pictures", "--set", "train.steps=20"
    )
    assert part.returncode == 0, part.stderr
    resumed = _scorekit("train", config, "--run-dir", tmp_path / "part", "--nproc", "2", "--no-pictures", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = read_checkpoint(list_checkpoints(tmp_path / "full" / "checkpoints")[-1])
    b = read_checkpoint(list_checkpoints(tmp_path / "part" / "checkpoints")[-1])
    assert a.step == b.step == 40
    for name in a.tensors:
        assert torch.equal(a.tensors[name], b.tensors[name]), name
    # A different number of processes cannot continue the run exactly, and says so.
    mismatch = _scorekit(
        "train", config, "--run-dir", tmp_path / "part", "--resume", "--no-pictures", "--set", "train.steps=60"
    )
    assert mismatch.returncode == 1 and "written by 2 process(es)" in mismatch.stderr
