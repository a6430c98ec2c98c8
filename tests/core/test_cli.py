"""The runner's contract, end to end on a tiny config: files, shapes, exit codes, messages."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

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


def test_score_takes_one_point_and_names_the_nearest_level(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: Registry
) -> None:
    from scorekit.engine.run import Run

    # A run trained on its σ levels only: `score` between them says so. The shared run trains on
    # every σ of its range (the default), so it gives no note anywhere.
    raw = small_config(data={"standardize": "scalar"}, schedule={"training": "levels"}, train={"steps": 20})
    code, _, err = run_cli(["train", write_toml(tmp_path / "l.toml", raw), "--run-dir", tmp_path / "levels"], capsys)
    assert code == 0, err
    points = np.array([[0.5, -1.0], [4.0, 0.0]], dtype=np.float32)
    np.save(tmp_path / "two.npy", points)
    np.save(tmp_path / "one.npy", points[0])
    config = load_config(read_toml_file(trained / "config.toml"), registry)
    run = Run(config, registry, trained)
    standardizer = run.trained_model()[1]
    levels = sorted(standardizer.sigma_to_data(float(v)) for v in run.schedule.levels())  # type: ignore[union-attr]
    level, between = levels[3], levels[3] ** 0.3 * levels[4] ** 0.7  # nearer levels[4]
    for run_dir, sigma, note in (
        (tmp_path / "levels", level, False),
        (tmp_path / "levels", between, True),
        (trained, between, False),
    ):
        code, out, err = run_cli(
            ["score", run_dir, "-i", tmp_path / "one.npy", "-o", tmp_path / "s1.npy", "--sigma", repr(sigma)], capsys
        )
        assert code == 0, err
        assert out.startswith(f"wrote scores at σ = {sigma:.6g} for 1 point")
        code, _, _ = run_cli(
            ["score", run_dir, "-i", tmp_path / "two.npy", "-o", tmp_path / "s2.npy", "--sigma", repr(sigma)], capsys
        )
        one, two = np.load(tmp_path / "s1.npy"), np.load(tmp_path / "s2.npy")
        assert one.shape == (2,) and two.shape == (2, 2)
        np.testing.assert_allclose(one, two[0], rtol=1e-5, atol=1e-6)  # float32, batch of 1 vs 2
        if note:
            assert err.startswith(f"note: σ = {between:.4g} lies between the trained levels {levels[4]:.4g} and ")
            assert err.rstrip().endswith(f"the nearest level is σ = {levels[4]:.6g}")
        else:
            assert err == ""


def test_eval_reports_metrics(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["eval", trained, "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    last = read_checkpoint(list_checkpoints(trained / "checkpoints")[-1])
    assert result["checkpoint_step"] == last.step == 60
    assert (result["model"], result["sampler"], result["likelihood"]) == ("ncsn_mlp", "annealed_langevin", None)
    assert len(result["mode_weights"]) == 8 and sum(result["mode_weights"]) == pytest.approx(1.0, abs=1e-6)
    assert result["true_mode_weights"] == [0.125] * 8
    # An exact draw of 300 points: each share is Binomial(300, 1/8)/300 with sd 0.019; the max of 8 is below 0.08.
    assert 0 < result["mode_weight_max_error_baseline"] < 0.08
    # Two true samples (300 vs 500 points): MMD² ≈ 0 within ~2/n (test_evaluation), 10/n a five-sigma bound.
    assert result["mmd_baseline_num_samples"] == 300 and abs(result["mmd_baseline"]) < 10 / 300
    assert len(result["fisher"]) == 10 and all(row["relative_fisher"] >= 0 for row in result["fisher"])
    # The schedule's σ live in model space; eval reports them in data units (σ·c, c the data scale).
    c = last.meta["standardizer"]["scale"][0]
    assert result["fisher"][0]["sigma"] == pytest.approx(8.0 * c, rel=1e-5)
    assert result["fisher"][-1]["sigma"] == pytest.approx(0.05 * c, rel=1e-5)
    # The fitted Gaussian's score: nearly exact where the noise swamps the modes, no better than the
    # zero score where eight modes of std 0.3 stand apart.
    gaussian = [row["gaussian_relative_fisher"] for row in result["fisher"]]
    assert gaussian[0] < 1e-3 and 0.9 < gaussian[-1] < 1.1
    assert math.isfinite(result["mmd"]) and json.loads((trained / "eval.json").read_text()) == result
    code, out, err = run_cli(["eval", trained], capsys)
    assert code == 0, err
    kinds = "eight_gaussians · ncsn_mlp · geometric · annealed_langevin"
    assert out.splitlines()[0] == f"run {trained}, checkpoint step 60 ({kinds})"
    assert f"(two true samples: {result['mmd_baseline']:.3g};" in out
    assert f"an exact draw of as many points: {result['mode_weight_max_error_baseline']:.4f}" in out


def test_eval_text_explains_each_row(tmp_path: Path) -> None:
    from scorekit.cli.evaluation import _eval_lines

    result = {
        "dataset": "standard_normal",
        "checkpoint_step": 8000,
        "model": "time_mlp",
        "schedule": "vp",
        "sampler": "reverse_sde",
        "likelihood": None,
        "num_samples": 1000,
        "non_finite_samples": 3,
        "mmd": 0.0021,
        "mmd_baseline": -0.0004,
        "mmd_baseline_num_samples": 900,
        "fisher": [
            {"t": 1.0, "sigma": 150.0, "relative_fisher": 0.02, "gaussian_relative_fisher": 1e-6},
            {"t": 0.001, "sigma": 0.0316, "relative_fisher": 1.64, "gaussian_relative_fisher": 0.93},
        ],
    }
    lines = _eval_lines(tmp_path, result)
    assert lines[0] == f"run {tmp_path}, checkpoint step 8000 (standard_normal · time_mlp · vp · reverse_sde)"
    assert lines[1].startswith("non-finite samples: 3 of 1000")
    assert lines[2].startswith("MMD² to held-out data: 0.0021 over 997 samples (two true samples of 900: -0.0004;")
    assert not any("mode weight" in line or "mode-weight" in line for line in lines)
    first, last = lines[-2:]
    assert first.split() == ["t", "=", "1", "σ", "=", "150", "model", "0.02", "Gaussian", "fit", "1e-06"]
    assert last.startswith("  t = 0.001  σ = 0.0316") and "model 1.64 " in last and "Gaussian fit 0.93 " in last
    assert last.endswith("worse than a zero score: the network does not resolve p_t at this level")


def test_one_mode_run_titles_pictures_and_leaves_out_mode_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import scorekit.plotting

    titles: list[tuple[str, str, list[str]]] = []
    real = scorekit.plotting.plot_samples

    def recording(samples: torch.Tensor, path: Path, **options: Any) -> Any:
        fig = real(samples, path, **options)
        titles.append((path.name, options["title"], [ax.get_title() for ax in fig.axes]))
        return fig

    monkeypatch.setattr(scorekit.plotting, "plot_samples", recording)
    raw = small_config(data={"kind": "standard_normal", "dim": 3}, train={"steps": 20, "checkpoint_every": 20})
    for key in ("num_modes", "radius", "std"):
        raw["data"].pop(key, None)
    code, _, err = run_cli(["train", write_toml(tmp_path / "c.toml", raw), "--run-dir", tmp_path / "run"], capsys)
    assert code == 0, err
    assert titles == [
        (
            "samples.png",
            "standard_normal · ncsn_mlp · annealed_langevin · 200 samples · step 20",
            ["samples (n=200), dims 0–1 of 3", "held-out data (n=200), dims 0–1 of 3"],
        )
    ]
    # The picture names the sampler this command used, not the run's.
    overrides = ["--set", "sampler.kind=langevin", "--set", "sampler.num_steps=10"]
    code, _, err = run_cli(["sample", tmp_path / "run", "-n", 7, "-o", tmp_path / "x.png", *overrides], capsys)
    assert code == 0, err
    assert titles[-1][1] == "standard_normal · ncsn_mlp · langevin · 7 samples · step 20"
    code, out, err = run_cli(["eval", tmp_path / "run", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["checkpoint_step"] == 20 and not {k for k in result if k.startswith("mode_weight")}
    # N(0, I) data: the fitted Gaussian's score is the true one up to the fit's error on 300 points.
    assert len(result["fisher"]) == 10 and all(row["gaussian_relative_fisher"] < 0.03 for row in result["fisher"])
    code, out, err = run_cli(["eval", tmp_path / "run"], capsys)
    assert code == 0 and "mode weight" not in out and "mode-weight" not in out, err


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
    # Data of magnitude 1e30, left unstandardized: the network's squared outputs overflow float32.
    data = np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32) * 1e30
    np.save(tmp_path / "huge.npy", data)
    raw = small_config(train={"steps": 200, "checkpoint_every": 1})
    raw["data"] = {"kind": "file", "path": str(tmp_path / "huge.npy"), "standardize": "none"}
    config = write_toml(tmp_path / "c.toml", raw)
    code, _, err = run_cli(["train", config, "--run-dir", tmp_path / "r", "--no-pictures"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "non-finite" in err and "at step" in err and "NCSNLoss" in err
    kept = list_checkpoints(tmp_path / "r" / "checkpoints")
    assert all(torch.isfinite(v).all() for k in kept for v in read_checkpoint(k).group("model").values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no_such_preset"], "unknown preset 'no_such_preset'"),
        (["train", "ncns"], r"^error: unknown preset 'ncns' \(available: [a-z_, ]*\); did you mean 'ncsn'\?$"),
        (
            ["train", "--set", "train.step=5"],
            r"^error: extra fields found \(step\); did you mean 'steps'\? @ \$\.train$",
        ),
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


def test_a_file_without_model_and_loss_extends_the_default_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    own_data = '[data]\nkind = "file"\npath = "points.npy"\n[train]\nsteps = 300\n'
    Path("readme.toml").write_text(own_data)
    Path("explicit.toml").write_text('base = "ncsn"\n' + own_data)
    code, implicit, err = run_cli(["config", "readme.toml"], capsys)
    assert code == 0 and err == (
        "note: readme.toml has no [model], [loss]: extending the default preset 'ncsn' "
        '(write base = "ncsn" to make this explicit)\n'
    )
    code, explicit, err = run_cli(["config", "explicit.toml"], capsys)
    assert code == 0 and err == "" and explicit == implicit
    _, preset, _ = run_cli(["config", "ncsn"], capsys)
    section = re.compile(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", re.M | re.S)
    ours, theirs = dict(section.findall(explicit)), dict(section.findall(preset))
    data_defaults = 'heldout_fraction = 0.1\nstandardize = "scalar"\nseed = 1234\n\n'
    assert ours["data"] == 'kind = "file"\npath = "points.npy"\n' + data_defaults
    assert ours["train"] == theirs["train"].replace("steps = 8000", "steps = 300")
    assert {k: v for k, v in ours.items() if k not in ("data", "train")} == {
        k: v for k, v in theirs.items() if k not in ("data", "train")
    }
    # --set applies after the merge; the resolved config has no 'base'.
    code, out, _ = run_cli(["config", "explicit.toml", "--set", "train.steps=7"], capsys)
    assert code == 0 and "steps = 7\n" in out and "base" not in out


def test_help_lists_the_presets_and_fitting_set_examples(
    capsys: pytest.CaptureFixture[str], registry: Registry
) -> None:
    for command in ([], ["train"], ["config"]):
        code, out, _ = run_cli([*command, "--help"], capsys)
        assert code == 0 and "\nPresets:\n" in out
        for name, preset in registry.presets.items():
            first_words = " ".join(preset.summary.split()[:3])
            assert re.search(rf"^  {name} +{re.escape(first_words)}", out, re.M), (command, name)
    from scorekit.cli import cli

    examples = {
        name: next(p.help for p in command.params if p.name == "overrides")
        for name, command in cli.commands.items()
        if any(p.name == "overrides" for p in command.params)
    }
    assert {name: re.search(r"e\.g\. (.*) \(repeatable", text).group(1) for name, text in examples.items()} == {
        "config": "--set train.steps=2000 --set model.hidden=256",
        "train": "--set train.steps=2000 --set model.hidden=256",
        "sample": "--set sampler.steps_per_level=50, or --set sampler.kind=ddim on a DDPM run",
        "eval": "--set eval.num_samples=2000",
        "logprob": "--set likelihood.kind=probability_flow",
        "impute": "--set sampler.kind=annealed_langevin",
    }


def test_ctrl_c_outside_training_exits_130(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scorekit.engine.run import Run

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "sample", interrupted)
    code, _, err = run_cli(["sample", trained, "-n", 5, "-o", tmp_path / "x.npy"], capsys)
    assert (code, err.strip()) == (130, "error: interrupted")  # click ends the ^C line first
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # Implicit score matching evaluates at t = 0, where no kernel turns ε into a score.
        (
            ["model.kind='time_mlp'", "loss.kind='ism'"],
            r"the loss ImplicitScoreMatching needs the model's 'score' but the model predicts 'epsilon'.*"
            r"set prediction = \"score\" @ \$\.model\.prediction",
        ),
        # A score loss cannot train a flow's velocity field.
        (["model.kind='cnf_mlp'"], r"needs a model that predicts 'epsilon'; this one predicts 'velocity' @ \$\.model"),
    ],
)
def test_a_model_whose_prediction_does_not_convert_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: list[str], message: str
) -> None:
    args: list[Any] = ["train", "--run-dir", tmp_path / "run", "--no-pictures"]
    for override in overrides:
        args += ["--set", override]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert re.search(message, err), err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_run_loads_from_python_and_takes_numpy_and_single_points(trained: Path) -> None:
    import scorekit
    from scorekit.errors import UserError

    run = scorekit.load(trained)
    assert isinstance(run, scorekit.Run) and run.config.train.steps == 60
    points = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 1.5]])  # float64, as NumPy makes them
    from_numpy, sigma = run.score(points, 0.5)
    from_tensor, _ = run.score(torch.tensor(points, dtype=torch.float32), 0.5)
    assert sigma == 0.5 and from_numpy.dtype == torch.float32
    assert torch.equal(from_numpy, from_tensor)
    one, _ = run.score(points[1], 0.5)  # a single point (d,) gives a single score
    assert one.shape == (2,) and torch.allclose(one, from_numpy[1], rtol=1e-5, atol=1e-6)  # batch-size rounding
    assert torch.equal(run.score(points.tolist(), 0.5)[0], from_numpy)
    with pytest.raises(UserError, match=r"input must have shape \(N, 2\) or \(2\), got \(3, 3\)"):
        run.score(np.zeros((3, 3)), 0.5)
    with pytest.raises(UserError, match="real numbers"):
        run.score(np.array([["a", "b"]]), 0.5)
    with pytest.raises(UserError, match="no such run directory"):
        scorekit.load(trained / "missing")


def test_a_sampler_called_directly_builds_no_graph_and_converts_the_model(trained: Path) -> None:
    """As the Sampler docstring shows it: no autograd graph, whatever the caller's grad mode."""
    import scorekit

    run = scorekit.load(trained)
    model, _ = run.trained_model()
    assert run.sampler is not None and any(p.requires_grad for p in model.parameters())
    x = run.sampler.sample(model, (50, 2), schedule=run.schedule, generator=torch.Generator().manual_seed(0))
    assert x.shape == (50, 2) and x.grad_fn is None and not x.requires_grad
    assert bool(torch.isfinite(x).all())


def test_sampling_calls_back_at_every_evaluation_and_reports_its_nfe(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import scorekit
    from scorekit.engine.sampling import Evaluation

    run = scorekit.load(trained)
    seen: list[Evaluation] = []
    x = run.sample(30, seed=1, callback=seen.append)
    assert run.sampler is not None and run.last_sampling is not None
    nfe = run.sampler.num_evaluations(run.schedule)
    assert nfe is not None and len(seen) == run.last_sampling.nfe == nfe
    assert [e.index for e in seen] == list(range(1, nfe + 1)) and {e.chunk for e in seen} == {0}
    for e in seen[:3]:  # a σ schedule (a = 1) and a score sampler: x̂₀ is Tweedie's x + σ²·s
        assert e.x.shape == e.output.shape == (30, 2) and e.t.shape == (30,)
        assert e.denoised is not None
        torch.testing.assert_close(e.denoised, e.x + e.t[:, None].square() * e.output)
    assert torch.equal(x, run.sample(30, seed=1))  # the callback changes nothing
    code, out, _ = run_cli(["sample", trained, "-n", 30, "-o", tmp_path / "x.npy"], capsys)
    assert code == 0 and f"({nfe} model evaluations per sample)" in out
