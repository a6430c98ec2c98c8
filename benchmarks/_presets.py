"""Shared by the quality benchmarks: a preset built through the Run API, trained on the clock, evaluated."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from scorekit._registry import load_registry
from scorekit.config import apply_overrides, load_config, parse_toml
from scorekit.engine.evaluate import evaluate
from scorekit.engine.run import Run


def preset_run(preset: str, overrides: list[str], run_dir: Path) -> Run:
    """The run ``scorekit train PRESET --set …`` builds (progress bars off), its data generated."""
    registry = load_registry()
    raw = parse_toml(registry.preset(preset).toml_text, f"preset {preset}")
    run = Run(load_config(apply_overrides(raw, ["train.progress=false", *overrides]), registry), registry, run_dir)
    run.data  # noqa: B018 - generate or load the data before any clock starts
    return run


def timed_train(run: Run) -> float:
    """Seconds of ``Run.train()`` alone."""
    start = time.perf_counter()
    run.train()
    return time.perf_counter() - start


def train_and_evaluate(preset: str, overrides: list[str]) -> tuple[dict[str, Any], float, float]:
    """(what ``scorekit eval`` reports, training seconds, evaluation seconds) in a temporary run directory."""
    with tempfile.TemporaryDirectory() as tmp:
        run = preset_run(preset, overrides, Path(tmp) / "run")
        train_seconds = timed_train(run)
        start = time.perf_counter()
        result = evaluate(run)
        return result, train_seconds, time.perf_counter() - start
