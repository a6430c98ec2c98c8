"""benchmarks/gpu.py --smoke: the GPU script's code runs on the CPU, so it cannot rot between GPU sessions."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def test_gpu_script_smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # the script adds benchmarks/ to it
    spec.loader.exec_module(module)
    result = module.main(["--smoke"])
    rows = result["rows"]
    assert [(r["case"], r["precision"]) for r in rows] == [
        ("unet_digits_8x8", "fp32"),
        ("unet_digits_8x8", "bf16"),
        ("unet_32x32", "fp32"),
        ("unet_32x32", "bf16"),
    ]
    for row in rows:
        assert row["nfe"] == 2 and row["host_syncs_per_step"] is None  # no CUDA in the smoke run
        assert math.isfinite(row["train_steps_per_second"]) and row["train_steps_per_second"] > 0
        assert math.isfinite(row["samples_per_second"]) and row["samples_per_second"] > 0
