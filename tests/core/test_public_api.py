"""The public surface changes only on purpose; importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import scorekit


def test_exported_names() -> None:
    assert scorekit.__all__ == [
        "COMPONENT_KINDS",
        "CheckpointError",
        "ConfigError",
        "DataError",
        "DataSource",
        "Likelihood",
        "Loss",
        "NoiseSchedule",
        "OutOfRangeError",
        "PluginError",
        "RegisterComponent",
        "RegisterPreset",
        "Registry",
        "Run",
        "RunConfig",
        "RunDirectoryError",
        "Sampler",
        "ScoreModel",
        "ScorekitError",
        "Solution",
        "SolveStats",
        "Solver",
        "SolverError",
        "Start",
        "TraceEstimator",
        "UserError",
        "__version__",
        "append_dims",
        "batch_sum",
        "get_plugin_manager",
        "hookimpl",
        "hookspec",
        "load",
        "load_config",
        "load_registry",
        "odeint",
    ]
    for name in scorekit.__all__:
        assert getattr(scorekit, name) is not None


def test_cli_and_plugin_discovery_do_not_import_torch() -> None:
    """`scorekit --help` and `scorekit plugins` must stay fast: discovery imports no torch."""
    code = (
        "import sys; from scorekit._registry import load_registry; import scorekit.cli; "
        "r = load_registry(); assert not r.failures, r.failures; assert len(r.plugins) >= 4; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_every_package_ships_its_type_information() -> None:
    """PEP 561: a plugin's users type-check against it only if its wheel carries py.typed."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    projects = [root / "core", *sorted((root / "plugins").iterdir()), *sorted((root / "contrib").iterdir())]
    for project in projects:
        if not (project / "pyproject.toml").exists():
            continue
        (package,) = (d for d in (project / "src").iterdir() if (d / "__init__.py").exists())
        data = tomllib.loads((project / "pyproject.toml").read_text())
        declared = data["tool"]["setuptools"]["package-data"][package.name]
        assert "py.typed" in declared and (package / "py.typed").exists(), project.name
