"""`scorekit plot`: the loss curve's records and smoothing, the picture, bad metrics files."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorekit.errors import UserError
from scorekit.training_plots import read_metrics, smoothed
from tests.conftest import small_config, write_toml
from tests.core.test_cli import run_cli


def test_smoothing_is_a_debiased_moving_average() -> None:
    assert smoothed([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])  # no pull toward 0
    # By hand: m1 = 0.5·1, m2 = 0.5·m1 + 0.5·3; divided by 1 − 0.5^k.
    assert smoothed([1.0, 3.0], 0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])
    assert smoothed([1.0, 2.0], 0.0) == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        smoothed([1.0], 1.0)


def test_metrics_lines_without_a_step_and_a_loss_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"step": 200, "loss": 0.5, "lr": 0.001}\n'
        '{"step": 100, "loss": 0.7}\n'
        '{"step": 300, "loss": NaN}\n'
        '{"step": true, "loss": 1}\n'
        "[1, 2]\n"
        '{"step": 400, "lo'  # cut by a crash
    )
    records, skipped = read_metrics(path)
    assert [r["step"] for r in records] == [100.0, 200.0] and records[1]["lr"] == 0.001 and skipped == 4
    (tmp_path / "fifo").mkdir()
    with pytest.raises(UserError):
        read_metrics(tmp_path / "fifo")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plot")
    raw = small_config(train={"steps": 60, "log_every": 10, "checkpoint_every": 60}, sampler={"steps_per_level": 5})
    from scorekit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(root / "c.toml", raw)), "--run-dir", str(root / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    return root / "run"


def test_plot_draws_the_loss_and_the_score_field(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    code, out, err = run_cli(["plot", tiny_run], capsys)
    assert code == 0 and "training.png" in out, err
    with Image.open(tiny_run / "training.png") as picture:
        width, height = picture.size
    assert width > 3 * height  # the loss panel and three score-field panels side by side
    with (tiny_run / "metrics.jsonl").open("a") as file:
        file.write("not json\n")
    code, _, err = run_cli(["plot", tiny_run, "-o", tiny_run / "again.png"], capsys)
    assert code == 0 and "note: skipped 1 lines of metrics.jsonl" in err


def test_plot_of_a_run_without_records_is_one_line(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    (copy / "metrics.jsonl").write_text("garbage\n")
    code, _, err = run_cli(["plot", copy], capsys)
    assert code == 2 and "no records with a step and a loss to draw" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["plot", copy, "-o", tmp_path / "x.jpg"], capsys)
    assert code == 2


def test_tensorboard_writes_the_records_and_a_resume_adds_no_step_twice(tmp_path: Path) -> None:
    """The tensorboard package's own reader sees loss, lr and grad_norm at every logged step; after an
    interrupted run is resumed from its checkpoint, each step appears once (purge_step)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from scorekit.cli import main

    raw = small_config(train={"steps": 40, "log_every": 10, "checkpoint_every": 20, "tensorboard": True})
    config = write_toml(tmp_path / "c.toml", raw)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config), "--run-dir", str(tmp_path / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    # As if the run had died after logging steps 30 and 40 but before checkpointing 40: resume from 20.
    (tmp_path / "run" / "checkpoints" / "step-00000040.safetensors").unlink()
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--run-dir", str(tmp_path / "run"), "--resume", "--no-pictures"])
    assert exit_info.value.code == 0
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train/lr", "train/grad_norm", "train/steps_per_second"} <= set(events.Tags()["scalars"])
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [10, 20, 30, 40]
    records, _ = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in records], rel=1e-6)
    assert all(r["grad_norm"] > 0 for r in records)


def test_tensorboard_without_the_package_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    raw = small_config(train={"steps": 5, "tensorboard": True})
    code, _, err = run_cli(["train", write_toml(tmp_path / "c.toml", raw), "--run-dir", tmp_path / "run"], capsys)
    assert code == 2 and 'pip install "scorekit[tensorboard]"' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before anything was written
