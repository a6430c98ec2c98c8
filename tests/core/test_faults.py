"""Faults during and after training: non-finite steps (stop or skip) and broken checkpoints at the CLI."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from scorekit.builtins.configs import NCSNMLPConfig
from scorekit.cli import main
from scorekit.config import TrainConfig
from scorekit.engine.checkpoint import list_checkpoints, read_checkpoint
from scorekit.engine.metrics import MetricsWriter
from scorekit.engine.trainer import NonFiniteLossError, Trainer
from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.nets import NCSNMLP
from tests.conftest import small_config, write_toml


class NaNEveryThird(Loss):
    """A plain loss that returns NaN on every third call (a bad batch, an overflow)."""

    needs_schedule = False

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        self.calls += 1
        value = model(x0, torch.ones(x0.shape[0])).square().mean()
        return value * float("nan") if self.calls % 3 == 0 else value


def _trainer(tmp_path: Path, **config: object) -> Trainer:
    model = NCSNMLP(NCSNMLPConfig(hidden=8, layers=1))
    model.bind((2,))
    train = TrainConfig(steps=30, batch_size=8, log_every=10, checkpoint_every=10, progress=False, **config)  # type: ignore[arg-type]
    return Trainer(
        model,
        NaNEveryThird(),
        None,
        torch.randn(64, 2),
        train,
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path / "checkpoints",
        metrics=MetricsWriter(tmp_path / "metrics.jsonl"),
    )


def test_skip_mode_drops_and_counts_non_finite_steps(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, nonfinite="skip")
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.run()
    assert trainer.step == 30 and trainer.skipped == 10
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_steps"] for r in records] == [3, 6, 10]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    assert read_checkpoint(list_checkpoints(tmp_path / "checkpoints")[-1]).meta["skipped_steps"] == 10


def test_skip_mode_stops_after_its_budget(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, nonfinite="skip", max_skipped_steps=2)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 9 in loss NaNEveryThird.*skipped 2"):
        trainer.run()


def test_stop_mode_names_the_step_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 3 in loss NaNEveryThird"):
        trainer.run()
    assert list_checkpoints(tmp_path / "checkpoints") == []


@pytest.mark.parametrize("damage", ["truncate", "empty", "pickle"])
def test_broken_checkpoint_is_a_one_line_runtime_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    config = write_toml(tmp_path / "c.toml", small_config(train={"steps": 30, "checkpoint_every": 30}))
    with pytest.raises(SystemExit):
        main(["train", str(config), "--run-dir", str(tmp_path / "run")])
    capsys.readouterr()
    (latest,) = list_checkpoints(tmp_path / "run" / "checkpoints")
    if damage == "truncate":
        latest.write_bytes(latest.read_bytes()[:100])
    elif damage == "empty":
        latest.write_bytes(b"")
    else:
        latest.write_bytes(pickle.dumps({"model": shutil.rmtree}))
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", str(tmp_path / "run"), "--num", "5", "--output", str(tmp_path / "x.npy")])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert err.startswith(f"error: {latest}") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x.npy").exists()


class NaNGradientOnce(NaNEveryThird):
    """A finite loss whose gradient is NaN on its fourth call: √(0·out²) has value 0 and derivative NaN."""

    def __call__(
        self,
        model: ScoreModel,
        x0: torch.Tensor,
        *,
        schedule: NoiseSchedule | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        self.calls += 1
        output = model(x0, torch.ones(x0.shape[0]))
        value = output.square().mean()
        return value + (0.0 * output).square().sqrt().sum() if self.calls == 4 else value


def test_a_nan_gradient_under_a_finite_loss_is_caught_before_adam_writes_it(tmp_path: Path) -> None:
    from scorekit.engine.trainer import NonFiniteLossError

    trainer = _trainer(tmp_path)
    trainer.loss = NaNGradientOnce()
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient at step 4"):
        trainer.run()
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())  # never written


def test_all_finite_checks_every_tensor_of_every_dtype() -> None:
    from scorekit.engine.state import all_finite as _all_finite

    clean = [torch.ones(3), torch.zeros(2, 2, dtype=torch.float64), torch.ones(4, dtype=torch.bfloat16)]
    assert _all_finite(clean)
    for index, bad in ((0, float("nan")), (1, float("inf")), (2, float("-inf"))):
        tensors = [t.clone() for t in clean]
        tensors[index].view(-1)[-1] = bad
        assert not _all_finite(tensors), (index, bad)
        assert torch.equal(tensors[(index + 1) % 3], clean[(index + 1) % 3])  # values left as they were
