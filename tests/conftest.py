"""Shared fixtures: fresh registries, small configs, and a fast CLI invocation."""

from __future__ import annotations

import importlib.metadata
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import torch

from scorekit._registry import Registry, load_registry


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    # Two cores are shared by the suite; oversubscription makes small ops slower, not faster.
    torch.set_num_threads(1)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A fresh registry of everything installed, unaffected by the caller's environment switches."""
    monkeypatch.delenv("SCOREKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("SCOREKIT_BLOCK_PLUGINS", raising=False)
    return load_registry()


def installed_entry_points(*names: str) -> list[importlib.metadata.EntryPoint]:
    """The real entry points of group 'scorekit', restricted to ``names`` (a fake distribution set)."""
    return [ep for ep in importlib.metadata.entry_points(group="scorekit") if ep.name in names]


def preset_dict(name: str = "ncsn") -> dict[str, Any]:
    if name == "cnf":
        return tomllib.loads(resources.files("scorekit_cnf").joinpath("cnf.toml").read_text())
    if name in ("vpsde", "vesde"):
        return tomllib.loads(resources.files("scorekit_sde").joinpath(f"{name}.toml").read_text())
    if name in ("ddpm", "ddpm_digits"):
        return tomllib.loads(resources.files("scorekit_ddpm").joinpath(f"{name}.toml").read_text())
    return tomllib.loads(resources.files("scorekit.presets").joinpath(f"{name}.toml").read_text())


def small_config(**sections: dict[str, Any]) -> dict[str, Any]:
    """The default preset shrunk to run in about a second; ``sections`` update its tables."""
    raw = preset_dict()
    raw["data"].update(num_train=2000, num_heldout=500)
    raw["model"].update(hidden=32, layers=2)
    raw["sampler"].update(steps_per_level=5)
    raw["train"].update(steps=60, batch_size=64, log_every=20, checkpoint_every=30, progress=False)
    raw["sample"] = {"num": 200}
    raw["eval"] = {"num_samples": 300, "num_points": 300}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return raw


def write_toml(path: Path, raw: dict[str, Any]) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(raw))
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` run only where a CUDA device is present."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
