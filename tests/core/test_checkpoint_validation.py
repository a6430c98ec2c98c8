"""Checkpoints are checked tensor by tensor against the run before anything uses them; weights are finite
before every save; resume compares against the config stored in the checkpoint."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from scorekit.engine.checkpoint import list_checkpoints, read_checkpoint, write_checkpoint
from tests.conftest import small_config, write_toml
from tests.core.test_cli import run_cli


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("validation")
    raw = small_config(train={"steps": 4, "checkpoint_every": 4, "log_every": 2})
    from scorekit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(root / "c.toml", raw)), "--run-dir", str(root / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    return root / "run"


def _tampered(base: Path, tmp_path: Path, change: Callable[[dict[str, torch.Tensor], dict[str, Any]], Any]) -> Path:
    """A copy of the run whose latest checkpoint went through ``change(tensors, meta)``."""
    run = tmp_path / "run"
    shutil.copytree(base, run)
    path = list_checkpoints(run / "checkpoints")[-1]
    checkpoint = read_checkpoint(path)
    tensors, meta = dict(checkpoint.tensors), json.loads(json.dumps(checkpoint.meta))
    returned = change(tensors, meta)
    step = returned if isinstance(returned, int) and not isinstance(returned, bool) else checkpoint.step
    path.unlink()
    write_checkpoint(run / "checkpoints", step, tensors, meta, keep=10)
    return run


CASES: list[tuple[str, Callable[[dict[str, torch.Tensor], dict[str, Any]], Any], str]] = [
    (
        "an Adam moment of the wrong shape",
        lambda t, m: t.update({"optimizer/0/exp_avg": torch.zeros(3)}),
        r"tensor 'optimizer/0/exp_avg' is float32 \(3,\), this run needs float32 \(32, \d+\)",
    ),
    (
        "a step tensor of the wrong shape",
        lambda t, m: t.update({"optimizer/1/step": torch.zeros(2)}),
        r"tensor 'optimizer/1/step' is float32 \(2,\), this run needs float32 \(\)",
    ),
    (
        "int8 weights",
        lambda t, m: t.update({"model/input.weight": t["model/input.weight"].to(torch.int8)}),
        r"tensor 'model/input.weight' is int8 \(32, 2\), this run needs float32 \(32, 2\)",
    ),
    (
        "a NaN weight",
        lambda t, m: t.update({"ema/0": torch.full_like(t["ema/0"], float("nan"))}),
        r"tensor 'ema/0' holds NaN or infinite values",
    ),
    (
        "an unexpected tensor",
        lambda t, m: t.update({"model/extra": torch.zeros(1)}),
        r"unexpected tensor 'model/extra'",
    ),
    ("a missing tensor", lambda t, m: t.pop("model/output.bias"), r"tensor 'model/output.bias' missing"),
    (
        "an incomplete optimizer state",
        lambda t, m: t.pop("optimizer/0/exp_avg_sq"),
        r"the optimizer state of parameter 0 is incomplete",
    ),
    (
        "a malformed Python RNG state",
        lambda t, m: m.update({"python_random": [3, [1, 2], None]}),
        r"the Python RNG state is malformed",
    ),
    ("a negative skipped-step count", lambda t, m: m.update({"skipped_steps": -1}), r"skipped_steps = -1 is out of"),
    ("a step beyond any run", lambda t, m: 10**18, r"checkpoint step 1000000000000000000 is out of range"),
    (
        "a tampered event shape",
        lambda t, m: m.update({"event_shape": [1, 2, 1]}),
        r"event_shape \[1, 2, 1\] does not match the run's data \[2\]",
    ),
]


@pytest.mark.parametrize(("name", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_resume_refuses_a_checkpoint_that_does_not_fit(
    base_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    change: Callable[[dict[str, torch.Tensor], dict[str, Any]], Any],
    message: str,
) -> None:
    run = _tampered(base_run, tmp_path, change)
    code, _, err = run_cli(["train", "--run-dir", run, "--resume", "--set", "train.steps=8"], capsys)
    assert code == 1, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.parametrize("index", [2, 3, 10])
def test_sampling_refuses_the_same_checkpoints(
    base_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    _, change, message = CASES[index]
    run = _tampered(base_run, tmp_path, change)
    out = tmp_path / "x.npy"
    code, _, err = run_cli(["sample", run, "-n", "4", "-o", out], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and not out.exists(), err
    assert re.search(message, err), err


def test_resume_compares_with_the_config_in_the_checkpoint(
    base_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Editing config.toml cannot smuggle a change past the resume check."""
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    config = run / "config.toml"
    config.write_text(config.read_text().replace("hidden = 32", "hidden = 48"))
    code, _, err = run_cli(["train", "--run-dir", run, "--resume", "--set", "train.steps=8"], capsys)
    assert code == 2 and "differs from the one its checkpoint (step 4) was trained with in model.hidden" in err
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step-00000004.safetensors"]


@pytest.mark.parametrize("nonfinite", ["stop", "skip"])
def test_weights_are_finite_before_every_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], nonfinite: str
) -> None:
    """An update that overflowed never reaches a checkpoint: with skipping on, the skipped step itself
    notices; a save refuses non-finite weights in any case; the last good checkpoint stays."""
    from scorekit.engine.trainer import Trainer

    original = Trainer.run

    def overflow_at_step_3(self: Trainer) -> None:
        original_step = self.optimizer.step

        def step(*args: Any, **kwargs: Any) -> Any:
            result = original_step(*args, **kwargs)
            if self.step == 3:
                with torch.no_grad():
                    next(self.model.parameters()).mul_(float("inf"))
            return result

        monkeypatch.setattr(self.optimizer, "step", step)
        original(self)

    monkeypatch.setattr(Trainer, "run", overflow_at_step_3)
    raw = small_config(train={"steps": 6, "checkpoint_every": 2, "log_every": 2, "nonfinite": nonfinite})
    run_dir = tmp_path / "run"
    code, _, err = run_cli(["train", write_toml(tmp_path / "c.toml", raw), "--run-dir", run_dir], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "the last good checkpoint" in err and "step-00000002.safetensors" in err, err
    assert [p.name for p in list_checkpoints(run_dir / "checkpoints")] == ["step-00000002.safetensors"]
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "step-00000002.safetensors")
    assert all(bool(torch.isfinite(t).all()) for t in checkpoint.tensors.values() if t.is_floating_point())
