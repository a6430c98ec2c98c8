"""Exact resume: a training process killed with SIGKILL and resumed ends bit-identical (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from scorekit.engine.checkpoint import latest_checkpoint, list_checkpoints, read_checkpoint
from tests.conftest import small_config, write_toml

STEPS = 3000


def _train(config: Path, run_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scorekit", "train", str(config), "--run-dir", str(run_dir), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_sigkill_then_resume_is_bit_identical(tmp_path: Path) -> None:
    # The preset's cosine learning rate and EMA stay on: the resumed run must reproduce both.
    train = {"steps": STEPS, "checkpoint_every": 250, "log_every": 250, "keep_checkpoints": 2}
    config = write_toml(tmp_path / "c.toml", small_config(train=train, sampler={"steps_per_level": 1}))
    full = _train(config, tmp_path / "full", "--no-pictures")
    killed = _train(config, tmp_path / "killed", "--no-pictures")
    deadline = time.monotonic() + 120
    while True:
        latest = latest_checkpoint(tmp_path / "killed" / "checkpoints")
        if latest is not None and read_checkpoint(latest).step >= 500:
            break
        assert killed.poll() is None, "the run finished before it could be killed; raise STEPS"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    killed_at = read_checkpoint(latest_checkpoint(tmp_path / "killed" / "checkpoints")).step  # type: ignore[arg-type]
    assert killed_at < STEPS

    resumed = _train(config, tmp_path / "killed", "--resume", "--no-pictures")
    _, errors = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, errors.decode()
    _, errors = full.communicate(timeout=300)
    assert full.returncode == 0, errors.decode()
    a = read_checkpoint(list_checkpoints(tmp_path / "full" / "checkpoints")[-1])
    b = read_checkpoint(list_checkpoints(tmp_path / "killed" / "checkpoints")[-1])
    assert a.step == b.step == STEPS
    assert a.tensors.keys() == b.tensors.keys()
    for name in a.tensors:
        assert torch.equal(a.tensors[name], b.tensors[name]), name


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path) -> None:
    # No periodic checkpoint before the end: what the interrupt keeps is its own checkpoint.
    steps = 20000
    train = {"steps": steps, "checkpoint_every": steps, "log_every": 100, "progress": True}
    config = write_toml(tmp_path / "c.toml", small_config(train=train, sampler={"steps_per_level": 1}))
    run_dir = tmp_path / "run"
    process = _train(config, run_dir, "--no-pictures")
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 3):
        assert process.poll() is None, "the run finished before it could be interrupted; raise steps"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGINT)
    _, errors = process.communicate(timeout=120)
    message = errors.decode()
    assert process.returncode == 130, message
    saved = read_checkpoint(latest_checkpoint(run_dir / "checkpoints"))  # type: ignore[arg-type]
    assert 300 <= saved.step < steps
    last_line = message.strip().splitlines()[-1]
    assert last_line == (
        f"error: training interrupted at step {saved.step}, checkpoint saved; "
        f"continue with: scorekit train --run-dir {run_dir} --resume"
    )
    # The command announced what it trains before the first step (progress is on, stderr is a pipe).
    assert message.startswith("train: ncsn_mlp (")

    resumed = _train(config, run_dir, "--resume", "--set", "train.steps=" + str(saved.step + 50), "--no-pictures")
    _, errors = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, errors.decode()
    assert read_checkpoint(latest_checkpoint(run_dir / "checkpoints")).step == saved.step + 50  # type: ignore[arg-type]
