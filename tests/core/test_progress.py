"""Progress: plain lines in a log at a bounded interval, counts of model evaluations, the run's phases."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import torch

import scorekit.engine.progress as progress_module
from scorekit._registry import Registry
from scorekit.config import load_config
from scorekit.engine.progress import Progress, format_seconds
from scorekit.engine.run import Run
from scorekit.engine.sampling import CountedModel
from tests.conftest import small_config


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", fake)
    return fake


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.4, 42, 185, 7620)] == ["0 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_plain_lines_never_leave_a_gap_over_ten_seconds(clock: _Clock) -> None:
    stream = io.StringIO()
    progress = Progress("train", 1000, unit="steps", stream=stream)
    times = []
    for _ in range(1000):
        clock.now += 1.3  # one step every 1.3 s: a slow run
        before = stream.getvalue().count("\n")
        progress.update(note="loss 0.5")
        if stream.getvalue().count("\n") > before:
            times.append(clock.now)
    progress.close()
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert max(gaps) <= 10.0 + 1.3  # at most the interval plus one step's work
    assert min(gaps) >= 5.0  # and no more often than every 5 s
    lines = stream.getvalue().splitlines()
    assert lines[0] == "train: 4/1000 steps (0%), loss 0.5; 5 s, 0.769 steps/s, ~21 min 35 s left"
    assert lines[-1].startswith("train: 1000/1000 steps (100%), loss 0.5; 21 min 40 s, 0.769 steps/s")


def test_unknown_total_and_initial_count(clock: _Clock) -> None:
    stream = io.StringIO()
    with Progress("log p", unit="evaluations", initial=0, stream=stream, interval=1.0) as progress:
        progress.set_note("chunk 1/2")
        for _ in range(30):
            clock.now += 0.125
            progress.update()
    assert stream.getvalue().splitlines()[0] == "log p: 8 evaluations, chunk 1/2; 1 s, 8 evaluations/s"
    stream = io.StringIO()
    with Progress("train", 100, unit="steps", initial=40, stream=stream, interval=1.0) as progress:
        clock.now += 2.0
        progress.update(10)
    # A resumed run counts from its checkpoint, and its rate from this process's steps alone.
    assert stream.getvalue().splitlines()[0] == "train: 50/100 steps (50%); 2 s, 5 steps/s, ~10 s left"


def test_disabled_and_short_phases_print_nothing(clock: _Clock) -> None:
    stream = io.StringIO()
    with Progress("sample", 10, stream=stream, enabled=False) as progress:
        clock.now += 60
        progress.update(10)
    with Progress("sample", 10, stream=stream) as progress:
        clock.now += 1
        progress.update(10)
    assert stream.getvalue() == ""


def test_a_broken_stream_does_not_stop_the_work(clock: _Clock) -> None:
    stream = io.StringIO()
    stream.close()
    progress = Progress("train", 10, stream=stream, interval=0.0)
    clock.now += 1
    progress.update()
    assert not progress.enabled


def test_counted_model_is_the_model(registry: Registry) -> None:
    from scorekit.testing import ReferenceScoreModel

    model = ReferenceScoreModel((2,))
    calls: list[int] = []
    counted = CountedModel(model, lambda: calls.append(1))
    x, t = torch.randn(3, 2), torch.full((3,), 0.5)
    assert torch.equal(counted(x, t), model(x, t))
    assert counted(x, t).shape == (3, 2) and len(calls) == counted.evaluations == 2
    assert counted.parametrization == model.parametrization and counted.event_shape == (2,)
    assert [p is q for p, q in zip(counted.parameters(), model.parameters(), strict=True)]


def test_sampling_and_likelihood_report_evaluations(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = small_config(train={"progress": True, "steps": 20}, sampler={"steps_per_level": 3})
    run = Run(load_config(raw, registry), registry, tmp_path / "run")
    run.train()
    capsys.readouterr()
    monkeypatch.setattr(progress_module, "MIN_INTERVAL", 0.0)  # a line at every evaluation
    monkeypatch.setattr(progress_module, "MAX_INTERVAL", 0.0)
    run.sample(10)
    lines = capsys.readouterr().err.splitlines()
    # 10 levels × 3 steps + the denoising step: the sampler's num_evaluations.
    assert lines[0].startswith("sample: 1/31 evaluations (3%)")
    assert lines[-1].startswith("sample: 31/31 evaluations (100%)")
    assert len([line for line in lines if line.startswith("sample:")]) == 32  # one per evaluation, and the last

    raw = small_config(train={"progress": True}, likelihood={"kind": "probability_flow"})
    run = Run(load_config(raw, registry), registry, tmp_path / "run")
    run.log_prob(torch.randn(5, 2))
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"log p: 0 evaluations, chunk 1/1, 5 points; \d+ s", lines[0])
    assert re.fullmatch(r"log p: 1 evaluations, chunk 1/1, 5 points; .*", lines[1])
    counts = [int(line.split()[2]) for line in lines]
    assert counts == sorted(counts) and counts[-1] > 10  # an adaptive solve: counted, no total
