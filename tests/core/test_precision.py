"""Precision policies and devices: bf16 autocast on CPU, clear errors where a device lacks one, CUDA paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from scorekit.cli import main
from scorekit.engine.checkpoint import list_checkpoints, read_checkpoint
from scorekit.engine.precision import check_precision
from scorekit.errors import ConfigError
from tests.conftest import small_config, write_toml


def _train(tmp_path: Path, name: str, **train: object) -> Path:
    config = write_toml(tmp_path / f"{name}.toml", small_config(train={"steps": 200, "log_every": 50, **train}))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config), "--run-dir", str(tmp_path / name)])
    assert exit_info.value.code == 0
    return tmp_path / name


def _losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_bf16_autocast_trains_like_fp32_on_cpu(tmp_path: Path) -> None:
    fp32, bf16 = _train(tmp_path, "fp32"), _train(tmp_path, "bf16", precision="bf16")
    a, b = _losses(fp32), _losses(bf16)
    assert a != b  # autocast really ran in bf16 (8-bit mantissa): the trajectories differ
    # Same seed and data; bf16's rounding (relative 2⁻⁸) moves the loss by far less than training does.
    assert abs(a[-1] - b[-1]) < 0.03 and b[-1] < b[0]
    # Weights and optimizer state stay fp32 under autocast.
    weights = read_checkpoint(list_checkpoints(bf16 / "checkpoints")[-1]).group("model")
    assert {t.dtype for t in weights.values()} == {torch.float32}


def test_unsupported_precisions_are_user_errors() -> None:
    with pytest.raises(ConfigError, match=r"fp16 needs a CUDA device\) @ \$\.train\.precision"):
        check_precision("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"use 'fp32'"):
        check_precision("bf16", torch.device("mps"))
    check_precision("bf16", torch.device("cpu"))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit deprecation inside inductor's imports
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_compiled_model_trains_and_checkpoints_plain_weights(tmp_path: Path) -> None:
    run = _train(tmp_path, "compiled", compile=True)
    names = read_checkpoint(list_checkpoints(run / "checkpoints")[-1]).group("model")
    assert not any("_orig_mod" in name for name in names)
    assert _losses(run)[-1] < _losses(run)[0]


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training_places_everything_on_the_gpu(tmp_path: Path, precision: str) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("GPU without bf16")
    run = _train(tmp_path, precision, device="cuda", precision=precision)
    losses = _losses(run)
    assert all(map(torch.isfinite, map(torch.tensor, losses))) and losses[-1] < losses[0]
    meta = read_checkpoint(list_checkpoints(run / "checkpoints")[-1]).meta
    assert (meta["grad_scaler"] is not None) == (precision == "fp16")


@pytest.mark.cuda
def test_cuda_sampling_matches_the_trained_run(tmp_path: Path) -> None:
    from scorekit._registry import load_registry
    from scorekit.config import load_config, read_toml_file
    from scorekit.engine.run import Run

    run_dir = _train(tmp_path, "gpu", device="cuda")
    registry = load_registry()
    run = Run(load_config(read_toml_file(run_dir / "config.toml"), registry), registry, run_dir)
    model, _ = run.trained_model()
    assert next(model.parameters()).device.type == "cuda"
    x = run.sample(100, seed=0)
    assert x.shape == (100, 2) and x.device.type == "cpu" and torch.isfinite(x).all()
