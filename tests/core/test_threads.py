"""The thread policy: one thread unless told otherwise or the environment chose."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scorekit._registry import Registry
from scorekit.config import load_config
from scorekit.engine.run import Run
from scorekit.engine.threads import apply_threads, resolve_threads
from tests.conftest import small_config


@pytest.fixture(autouse=True)
def _restore_threads() -> None:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_auto_is_one_thread_unless_the_environment_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads(0) == 1
    assert resolve_threads(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # as torchrun sets it, or a user's export
    assert resolve_threads(0) is None
    assert resolve_threads(3) == 3


def test_apply_sets_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    assert apply_threads(0) == 1 == torch.get_num_threads()
    assert apply_threads(2) == 2 == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert apply_threads(0) == 2  # left as the environment set it


def test_a_run_uses_the_configured_threads(tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run = Run(load_config(small_config(train={"threads": 2}), registry), registry, tmp_path)
    assert run.threads == 2 == torch.get_num_threads()
    run = Run(load_config(small_config(), registry), registry, tmp_path)
    assert run.threads == 1 == torch.get_num_threads()


def test_threads_must_be_a_count(registry: Registry) -> None:
    from scorekit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"@ \$\.train\.threads"):
        load_config(small_config(train={"threads": -1}), registry)
