"""docs/python-api.md runs as written (with fewer training steps), so the walk-through cannot rot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def test_the_python_walk_through_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    matplotlib.use("Agg")
    code = "\n".join(re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S))
    for written, smaller in [
        ("train.steps=2000", "train.steps=40"),
        ("sample(1000,", "sample(100,"),
        ("grid[:50]", "grid[:8]"),
    ]:
        assert written in code
        code = code.replace(written, smaller)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert namespace["x"].shape == (100, 2)
    assert namespace["s"].shape == (441, 2) and namespace["sigma"] == 0.5
    assert namespace["one"].shape == (2,)
    assert namespace["nfe"] == len(namespace["path"]) == 1001 and namespace["path"][0][1].shape == (5, 2)
    assert namespace["samples"].shape == (500, 2) and not namespace["y"].requires_grad
    assert namespace["log_p"].shape == (8,) and namespace["log_p"].dtype == torch.float64
    assert namespace["log_p_one"].shape == ()
    assert namespace["result"].steps == 40 and namespace["result"].checkpoint.is_file()
    points, again, edited = namespace["points"], namespace["again"], namespace["edited"]
    assert namespace["z"].shape == points.shape == again.shape == edited.shape == (50, 2)
    assert (tmp_path / "score_field.png").read_bytes()[:4] == b"\x89PNG"
