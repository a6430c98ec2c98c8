"""Reliability: one writer per run directory, SIGTERM like Ctrl-C, OS errors and broken components as one line,
non-finite results refused unless asked for, outputs written where and as asked."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from scorekit.engine.checkpoint import list_checkpoints
from scorekit.engine.lock import run_lock
from tests.conftest import small_config, write_toml
from tests.core.test_cli import run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reliability")
    raw = small_config(train={"steps": 4, "checkpoint_every": 4, "log_every": 2})
    from scorekit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(root / "c.toml", raw)), "--run-dir", str(root / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    return root / "run"


def _one_line(err: str) -> bool:
    return err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- the run directory ----------------------------------------------------------------------------
def test_a_second_writer_is_refused_and_changes_nothing(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    with run_lock(run):  # another process training there (flock: per open file, so this process counts)
        code, _, err = run_cli(["train", "--run-dir", run, "--resume", "--set", "train.steps=8"], capsys)
    assert code == 2 and _one_line(err), err
    assert f"another scorekit process (PID {os.getpid()}) is training in {run}" in err
    assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before
    # Once the other writer is gone, the run resumes (the kernel drops a dead holder's lock).
    code, _, err = run_cli(["train", "--run-dir", run, "--resume", "--set", "train.steps=8", "--no-pictures"], capsys)
    assert code == 0, err


def test_stale_temporaries_are_removed_when_training_starts(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    stale = [run / ".config.toml.tmp-999999", run / "checkpoints" / ".step-00000008.safetensors.tmp-999999"]
    for path in stale:
        path.write_bytes(b"half")
    code, _, err = run_cli(["train", "--run-dir", run, "--resume", "--set", "train.steps=6", "--no-pictures"], capsys)
    assert code == 0, err
    assert not any(path.exists() for path in stale)


def test_empty_run_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["train", "--run-dir", "", "--set", "train.steps=1"], capsys)
    assert code == 2 and "must name a directory for the run" in err and not list(tmp_path.iterdir())


def test_sigterm_stops_training_like_ctrl_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from scorekit.engine.trainer import Trainer

    original = Trainer.save

    sent = []

    def save_then_terminate(self: Trainer) -> Any:
        path = original(self)
        if self.step == 2 and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between steps, as from a scheduler
        return path

    monkeypatch.setattr(Trainer, "save", save_then_terminate)
    raw = small_config(train={"steps": 50, "checkpoint_every": 2})
    run = tmp_path / "run"
    code, _, err = run_cli(["train", write_toml(tmp_path / "c.toml", raw), "--run-dir", run], capsys)
    assert code == 143 and _one_line(err), err
    assert "training stopped by SIGTERM at step 2, checkpoint saved" in err
    assert f"continue with: scorekit train --run-dir {run} --resume" in err
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step-00000002.safetensors"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is put back


# -- the system ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code_", "reason"), [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")]
)
def test_os_errors_are_one_line_and_leave_no_temporary(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any, code_: int, reason: str
) -> None:
    def fail(fd: int) -> None:
        raise OSError(code_, os.strerror(code_))

    monkeypatch.setattr(os, "fsync", fail)
    out = tmp_path / "x.npy"
    code, _, err = run_cli(["sample", trained, "-n", "5", "-o", out], capsys)
    assert code == 1 and _one_line(err) and reason in err, err
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: os.mkfifo(p), "is not a regular file"),
    ],
)
def test_output_must_be_a_regular_file(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    out = tmp_path / "out.npy"
    make(out)
    code, _, err = run_cli(["sample", trained, "-n", "5", "-o", out], capsys)
    assert code == 2 and _one_line(err) and message in err, err


def test_output_name_is_kept_in_any_case(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["sample", trained, "-n", "5", "-o", tmp_path / "up.NPY"], capsys)
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["up.NPY"] and np.load(tmp_path / "up.NPY").shape == (5, 2)


def test_a_path_cannot_forge_a_second_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = tmp_path / "run\nerror: everything is fine"
    code, _, err = run_cli(["sample", forged, "-n", "5", "-o", tmp_path / "x.npy"], capsys)
    assert code == 2 and _one_line(err) and "\\nerror: everything is fine" in err, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", str(10**24)], r"--seed.*10{24}|range"),
        (["--num", str(10**12)], r"--num.*range"),
    ],
)
def test_numbers_beyond_what_can_run_are_refused(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    import re

    base = ["sample", trained, "-o", tmp_path / "x.npy"]
    code, _, err = run_cli([*base, *(["-n", "5"] if "--num" not in args else []), *args], capsys)
    assert code == 2 and _one_line(err) and re.search(message, err), err


# -- components ------------------------------------------------------------------------------------
def _break(monkeypatch: Any, target: str, replacement: Any) -> None:
    module, _, name = target.rpartition(".")
    import importlib

    owner, attribute = module.rsplit(".", 1)
    monkeypatch.setattr(getattr(importlib.import_module(owner), attribute), name, replacement)


@pytest.mark.parametrize(
    ("target", "replacement", "command", "message"),
    [
        (
            "scorekit.nets.mlp.NCSNMLP.forward",
            lambda self, x, t: x[:, :1],
            "train",
            r"the model NCSNMLP returned output of shape \(2, 1\), expected \(2, 2\)",
        ),
        (
            "scorekit_dsm.losses.NCSNLoss.__call__",
            lambda self, model, x0, **kw: model(x0, torch.ones(len(x0))).sum(1),
            "train",
            r"the loss NCSNLoss returned a tensor of shape \(64,\); a loss returns a scalar",
        ),
        (
            "scorekit_dsm.losses.NCSNLoss.__call__",
            lambda self, model, x0, **kw: torch.tensor(1.0),
            "train",
            r"the loss NCSNLoss returned a value without a gradient",
        ),
        (
            "scorekit_annealed_langevin.sampler.AnnealedLangevin.sample",
            lambda self, model, shape, **kw: [[0.0, 0.0]] * shape[0],
            "sample",
            r"the sampler AnnealedLangevin returned a list as its samples, not a tensor",
        ),
        (
            "scorekit_annealed_langevin.sampler.AnnealedLangevin.sample",
            lambda self, model, shape, **kw: torch.zeros(shape[0], 3),
            "sample",
            r"the sampler AnnealedLangevin returned samples of shape \(5, 3\), expected \(5, 2\)",
        ),
        (
            "scorekit_annealed_langevin.sampler.AnnealedLangevin.sample",
            lambda self, model, shape, **kw: (_ for _ in ()).throw(IndexError("index 7 is out of bounds")),
            "sample",
            r"the sampler AnnealedLangevin failed: IndexError: index 7 is out of bounds",
        ),
    ],
)
def test_a_broken_component_is_one_line_naming_it(
    trained: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
    target: str,
    replacement: Any,
    command: str,
    message: str,
) -> None:
    import re

    _break(monkeypatch, target, replacement)
    if command == "train":
        raw = small_config(train={"steps": 2, "checkpoint_every": 2})
        args = ["train", write_toml(tmp_path / "c.toml", raw), "--run-dir", tmp_path / "run", "--no-pictures"]
    else:
        args = ["sample", trained, "-n", "5", "-o", tmp_path / "x.npy"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and _one_line(err) and re.search(message, err), err
    assert not (tmp_path / "x.npy").exists()


# -- non-finite results ----------------------------------------------------------------------------
def test_non_finite_samples_are_refused_unless_asked_for(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    def diverging(self: Any, model: Any, shape: Any, **kw: Any) -> torch.Tensor:
        x = torch.zeros(shape)
        x[1:3] = math.nan
        return x

    _break(monkeypatch, "scorekit_annealed_langevin.sampler.AnnealedLangevin.sample", diverging)
    out = tmp_path / "x.npy"
    code, _, err = run_cli(["sample", trained, "-n", "5", "-o", out], capsys)
    assert code == 1 and _one_line(err) and "2 of 5 samples are NaN or infinite" in err and not out.exists()
    code, _, err = run_cli(["sample", trained, "-n", "5", "-o", out, "--allow-nonfinite"], capsys)
    assert code == 0 and int(np.isnan(np.load(out)).any(axis=1).sum()) == 2


def test_eval_refuses_nan_metrics_and_writes_strict_json(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    import scorekit.engine.evaluate as evaluate_module

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    result = {
        "dataset": "x",
        "checkpoint_step": 4,
        "mmd": math.nan,
        "fisher": [{"sigma": 1.0, "relative_fisher": math.inf}],
    }
    monkeypatch.setattr(evaluate_module, "evaluate", lambda r: dict(result))
    code, _, err = run_cli(["eval", run, "--json"], capsys)
    assert code == 1 and _one_line(err) and "mmd, fisher[0].relative_fisher are NaN or infinite" in err, err
    assert not (run / "eval.json").exists()
    code, out, err = run_cli(["eval", run, "--json", "--allow-nonfinite"], capsys)
    assert code == 0, err

    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    for text in (out, (run / "eval.json").read_text()):
        parsed = json.loads(text, parse_constant=refuse)
        assert parsed["mmd"] is None and parsed["fisher"][0]["relative_fisher"] is None


def test_resume_keeps_metrics_lines_it_cannot_read(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Damaged lines in metrics.jsonl (not UTF-8, no step, a non-finite step, deep nesting) do not stop a
    resume and are kept as they are; records after the checkpoint's step are dropped as before."""
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    metrics = run / "metrics.jsonl"
    damaged = [b"\xff\xfe not utf-8", b'{"step": null}', b'{"step": Infinity}', b"[" * 5000 + b"]" * 5000]
    metrics.write_bytes(metrics.read_bytes() + b"\n".join(damaged) + b"\n" + b'{"step": 99, "loss": 1.0}\n')
    code, _, err = run_cli(["train", "--run-dir", run, "--resume", "--set", "train.steps=6", "--no-pictures"], capsys)
    assert code == 0, err
    lines = metrics.read_bytes().splitlines()
    assert all(line in lines for line in damaged)
    assert b'{"step": 99, "loss": 1.0}' not in lines  # beyond the checkpoint's step 4: dropped
    assert json.loads(lines[-1])["step"] == 6


def test_world_size_without_torchrun(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    raw = small_config(train={"steps": 2})
    code, _, err = run_cli(["train", write_toml(tmp_path / "c.toml", raw), "--run-dir", tmp_path / "run"], capsys)
    assert code == 2 and _one_line(err) and "WORLD_SIZE=2 asks for distributed training" in err, err
    assert not (tmp_path / "run").exists()
