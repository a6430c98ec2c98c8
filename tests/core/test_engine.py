"""Engine pieces: EMA, learning-rate schedule, chunked sampling, device selection, standard data."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scorekit.config import TrainConfig
from scorekit.engine.device import resolve_device
from scorekit.engine.ema import EMA
from scorekit.engine.sampling import sample_in_chunks
from scorekit.engine.trainer import learning_rate
from scorekit.errors import ConfigError
from scorekit.interfaces import Sampler, ScoreModel


def test_ema_follows_the_recursion_with_warm_up() -> None:
    model = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for step in range(3):
            model.weight.add_(1.0)
            ema.update(step)
    # β_k = min(0.9, (1 + k)/(10 + k)) = 0.1, 2/11, 0.25 for weights 1, 2, 3 from θ_ema = 0:
    first = 0.9 * 1
    second = 2 / 11 * first + 9 / 11 * 2
    third = 0.25 * second + 0.75 * 3
    assert ema.params[0].flatten().tolist() == pytest.approx([third, third])
    # Past the warm-up the decay is the configured one.
    before = ema.params[0].clone()
    ema.update(1000)
    assert torch.allclose(ema.params[0], 0.9 * before + 0.1 * model.weight)


def test_cosine_learning_rate() -> None:
    config = TrainConfig(steps=100, lr=1.0, lr_schedule="cosine", lr_min_factor=0.1)
    assert learning_rate(config, 0) == pytest.approx(1.0)
    assert learning_rate(config, 50) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(config, 100) == pytest.approx(0.1)
    assert learning_rate(TrainConfig(lr=0.3), 77) == 0.3


class _Counting(Sampler):
    needs_schedule = False

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def sample(self, model, shape, *, schedule, generator=None, device="cpu", dtype=torch.float32):  # type: ignore[no-untyped-def]
        self.shapes.append(shape)
        return torch.randn(shape, generator=generator, dtype=dtype) + (0.0 if torch.is_grad_enabled() else 1.0)


class _Zero(ScoreModel):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_sampling_in_chunks_covers_n_without_grad() -> None:
    sampler = _Counting()
    x = sample_in_chunks(
        sampler,
        _Zero(),
        23,
        (1, 2, 2),
        schedule=None,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
        chunk_size=10,
    )
    assert sampler.shapes == [(10, 1, 2, 2), (10, 1, 2, 2), (3, 1, 2, 2)]
    assert x.shape == (23, 1, 2, 2)
    # Each chunk was drawn under no_grad (the sampler adds 1 then): the mean is near 1, not 0.
    assert abs(float(x.mean()) - 1.0) < 5 / math.sqrt(x.numel())


def test_device_selection() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match=r"unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_sampling_after_training_does_not_read_back_the_checkpoint_just_written(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    import scorekit
    from scorekit.config import load_config
    from scorekit.engine import run as run_module
    from tests.conftest import small_config

    registry = scorekit.load_registry()
    run_dir = Path(str(tmp_path)) / "run"
    run = scorekit.Run(load_config(small_config(), registry), registry, run_dir)
    run.train()
    monkeypatch.setattr(run_module, "read_checkpoint", lambda path: pytest.fail(f"read {path} back"))
    fresh = run.sample(50, seed=3)
    assert run.checkpoint().step == 60
    monkeypatch.undo()
    # A new Run reads the file: the same model, the same samples.
    assert torch.equal(scorekit.load(run_dir, registry=registry).sample(50, seed=3), fresh)
