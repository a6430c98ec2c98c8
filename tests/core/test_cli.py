"""The runner's contract, end to end on a tiny config: files, shapes, exit codes, messages."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from scorekit._registry import Registry
from scorekit.cli import main
from scorekit.config import load_config, read_toml_file
from scorekit.engine.checkpoint import list_checkpoints, read_checkpoint
from tests.conftest import small_config, write_toml


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny trained run (scalar standardization, so σ and scores change units) shared by the tests."""
    root = tmp_path_factory.mktemp("run")
    config = write_toml(root / "tiny.toml", small_config(data={"standardize": "scalar"}))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config), "--run-dir", str(root / "run")])
    assert exit_info.value.code == 0
    return root / "run"


def test_train_writes_the_run_directory(trained: Path, registry: Registry) -> None:
    assert {p.name for p in trained.iterdir()} >= {"config.toml", "checkpoints", "metrics.jsonl", "samples.png"}
    assert (trained / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [20, 40, 60] and all(math.isfinite(r["loss"]) for r in records)
    assert [p.name for p in list_checkpoints(trained / "checkpoints")] == [
        "step-00000030.safetensors",
        "step-00000060.safetensors",
    ]
    config = load_config(read_toml_file(trained / "config.toml"), registry)
    assert config.train.steps == 60 and config.data.config.standardize == "scalar"


def test_sample_npy_and_png(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["sample", trained, "--num", 37, "--output", tmp_path / "x.npy", "--seed", 3], capsys)
    assert code == 0, err
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (37, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    run_cli(["sample", trained, "--num", 37, "--output", tmp_path / "y.npy", "--seed", 3], capsys)
    assert np.array_equal(x, np.load(tmp_path / "y.npy"))
    code, _, _ = run_cli(["sample", trained, "--num", 10, "--output", tmp_path / "x.png"], capsys)
    assert code == 0 and (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


def test_image_runs_draw_image_grids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import scorekit.plotting

    drawn: list[tuple[str, tuple[int, ...], tuple[int, ...] | None]] = []
    real = scorekit.plotting.plot_image_grid

    def recording(images: torch.Tensor, path: Path, **options: object) -> None:
        reference = options.get("reference")
        drawn.append((path.name, tuple(images.shape), None if reference is None else tuple(reference.shape)))
        real(images, path, **options)

    monkeypatch.setattr(scorekit.plotting, "plot_image_grid", recording)
    raw = small_config(data={"kind": "digits", "classes": [0, 1]}, train={"steps": 20, "checkpoint_every": 20})
    for key in ("num_train", "num_heldout", "num_modes", "radius", "std"):
        raw["data"].pop(key, None)
    code, _, err = run_cli(["train", write_toml(tmp_path / "d.toml", raw), "--run-dir", tmp_path / "run"], capsys)
    assert code == 0, err
    # The picture after training shows at most 64 samples, beside as many held-out digits.
    assert drawn == [("samples.png", (64, 1, 8, 8), (36, 1, 8, 8))]
    assert (tmp_path / "run" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(["sample", tmp_path / "run", "-n", 5, "-o", tmp_path / "x.npy"], capsys)
    assert code == 0, err
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (5, 1, 8, 8) and x.dtype == np.float32 and np.isfinite(x).all()
    code, _, err = run_cli(["sample", tmp_path / "run", "-n", 5, "-o", tmp_path / "x.png"], capsys)
    assert code == 0, err
    assert drawn[-1] == ("x.png", (5, 1, 8, 8), None)


def test_score_accounts_for_standardization(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: Registry
) -> None:
    from scorekit.engine.run import Run
    from scorekit.interfaces import ScoreModel

    points = np.array([[0.0, 0.0], [4.0, 0.0], [-1.0, 2.5]], dtype=np.float32)
    np.save(tmp_path / "p.npy", points)
    code, _, err = run_cli(
        ["score", trained, "--input", tmp_path / "p.npy", "--output", tmp_path / "s.npy", "--sigma", 0.5], capsys
    )
    assert code == 0, err
    scores = np.load(tmp_path / "s.npy")
    # By hand: y = (x − m)/c, σ_model = σ/c, and a score transforms as s_data(x) = s_model(y)/c.
    checkpoint = read_checkpoint(list_checkpoints(trained / "checkpoints")[-1])
    mean = torch.tensor(checkpoint.meta["standardizer"]["mean"])
    c = checkpoint.meta["standardizer"]["scale"][0]
    config = load_config(read_toml_file(trained / "config.toml"), registry)
    model: ScoreModel = Run(config, registry, trained).trained_model()[0]
    with torch.no_grad():
        expected = model((torch.from_numpy(points) - mean) / c, torch.full((3,), 0.5 / c)) / c
    assert c != pytest.approx(1.0, abs=0.1)
    np.testing.assert_allclose(scores, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_eval_reports_metrics(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["eval", trained, "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert len(result["mode_weights"]) == 8 and sum(result["mode_weights"]) == pytest.approx(1.0, abs=1e-6)
    assert len(result["fisher"]) == 10 and all(row["relative_fisher"] >= 0 for row in result["fisher"])
    # The schedule's σ live in model space; eval reports them in data units (σ·c, c the data scale).
    c = read_checkpoint(list_checkpoints(trained / "checkpoints")[-1]).meta["standardizer"]["scale"][0]
    assert result["fisher"][0]["sigma"] == pytest.approx(8.0 * c, rel=1e-5)
    assert result["fisher"][-1]["sigma"] == pytest.approx(0.05 * c, rel=1e-5)
    assert math.isfinite(result["mmd"]) and json.loads((trained / "eval.json").read_text()) == result


def test_resume_continues_bit_identically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A constant learning rate, so stopping at step 30 of a 30-step run equals an interruption of a
    # 60-step run (a cosine schedule depends on the total); issue 3 adds a SIGKILL test.
    train = {"steps": 60, "checkpoint_every": 30, "lr_schedule": "constant"}
    config = write_toml(tmp_path / "c.toml", small_config(train=train))
    assert run_cli(["train", config, "--run-dir", tmp_path / "full"], capsys)[0] == 0
    assert run_cli(["train", config, "--run-dir", tmp_path / "part", "--set", "train.steps=30"], capsys)[0] == 0
    code, _, err = run_cli(["train", config, "--run-dir", tmp_path / "part", "--resume"], capsys)
    assert code == 0, err
    full = read_checkpoint(list_checkpoints(tmp_path / "full" / "checkpoints")[-1])
    part = read_checkpoint(list_checkpoints(tmp_path / "part" / "checkpoints")[-1])
    assert full.step == part.step == 60
    for name, value in full.tensors.items():
        assert torch.equal(value, part.tensors[name]), name
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    # Step 30 was the shorter run's final record; resuming appends after it, no step twice.
    assert [json.loads(line)["step"] for line in lines] == [20, 30, 40, 60]


def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_toml(tmp_path / "c.toml", small_config(train={"steps": 200, "checkpoint_every": 1, "lr": 1e30}))
    code, _, err = run_cli(["train", config, "--run-dir", tmp_path / "r"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "non-finite" in err and "at step" in err and "NCSNLoss" in err
    kept = list_checkpoints(tmp_path / "r" / "checkpoints")
    assert kept and all(torch.isfinite(v).all() for v in read_checkpoint(kept[-1]).group("model").values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no_such_preset"], "unknown preset 'no_such_preset'"),
        (["train", "missing.toml"], "missing.toml: no such file"),
        (["train", "--resume"], "--resume needs --run-dir"),
        (["train", "--set", "train.steps=0"], r"must be ≥ 1, got 0 @ \$\.train\.steps"),
        (["train", "--set", "train.device='cuda:7'"], "device"),
        (["sample", "nowhere", "--num", "3", "--output", "x.npy"], "nowhere: no such run directory"),
        (["sample", ".", "--num", "3", "--output", "x.txt"], "--output must end in .npy or .png"),
        (["train", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(args, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert re.search(message, err), err


def test_existing_run_needs_resume_and_data_errors(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["train", trained / "config.toml", "--run-dir", trained], capsys)
    assert code == 2 and "already holds checkpoints" in err
    np.save(tmp_path / "bad.npy", np.zeros((5, 2, 2), dtype=np.float32))
    raw = small_config(data={"kind": "file", "path": str(tmp_path / "bad.npy")})
    for key in ("num_train", "num_heldout", "num_modes", "radius", "std"):
        raw["data"].pop(key, None)
    code, _, err = run_cli(["train", write_toml(tmp_path / "f.toml", raw), "--run-dir", tmp_path / "r"], capsys)
    assert code == 2 and "bad.npy" in err and "(5, 2, 2)" in err
    np.save(tmp_path / "p.npy", np.zeros((4, 3), dtype=np.float32))
    code, _, err = run_cli(["score", trained, "--input", tmp_path / "p.npy", "--output", tmp_path / "s.npy"], capsys)
    assert code == 2 and "shape (N, 2)" in err
    np.save(tmp_path / "p.npy", np.zeros((4, 2), dtype=np.float32))
    code, _, err = run_cli(
        ["score", trained, "--input", tmp_path / "p.npy", "--output", tmp_path / "s.npy", "--sigma", 100], capsys
    )
    assert code == 2 and "trained range" in err
