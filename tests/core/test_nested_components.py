"""Components nested in a component's config (a loss's trace estimator), found through the registry."""

from __future__ import annotations

import types
from typing import Any

import attrs
import pytest
import torch

from scorekit import TraceEstimator, hookimpl
from scorekit._registry import load_registry
from scorekit.config import Component, apply_overrides, dump_config, load_config, nested_component
from scorekit.errors import ConfigError
from tests.conftest import installed_entry_points, preset_dict
from tests.core.test_registry import FakeEntryPoint


@attrs.frozen(kw_only=True)
class ScaledTraceConfig:
    scale: float = 1.0


class ScaledTrace(TraceEstimator):
    def __init__(self, config: ScaledTraceConfig) -> None:
        self.scale = config.scale

    def trace(self, func, x, *, create_graph=False, generator=None):  # type: ignore[no-untyped-def]
        return func(x), self.scale * torch.ones(x.shape[0])


@attrs.frozen(kw_only=True)
class TraceLossConfig:
    weight: float = 1.0
    estimator: Component = nested_component("trace_estimator", "scaled", scale=3.0)


def _registry() -> Any:
    module = types.ModuleType("nested")

    @hookimpl
    def scorekit_register_components(register: Any) -> None:
        register("trace_estimator", "scaled", factory=ScaledTrace, config=ScaledTraceConfig)
        register("loss", "trace_loss", factory=lambda config: config, config=TraceLossConfig)

    module.scorekit_register_components = scorekit_register_components  # type: ignore[attr-defined]
    return load_registry(
        [*installed_entry_points("core", "dsm", "annealed_langevin"), FakeEntryPoint("nested", module, "dist-nested")]
    )


def _raw(*overrides: str) -> dict[str, Any]:
    return apply_overrides(preset_dict(), ["loss.kind=trace_loss", *overrides])


def test_default_nested_component_is_structured_and_builds() -> None:
    registry = _registry()
    config = load_config(_raw(), registry)
    estimator = config.loss.config.estimator
    assert estimator.kind == "scaled" and estimator.config == ScaledTraceConfig(scale=3.0)
    built = estimator.build()
    assert isinstance(built, ScaledTrace) and built.scale == 3.0


def test_nested_table_overrides_and_round_trips() -> None:
    registry = _registry()
    config = load_config(_raw("loss.estimator.scale=0.5"), registry)
    assert config.loss.config.estimator.config.scale == 0.5
    dumped = dump_config(config)
    assert dumped["loss"] == {"kind": "trace_loss", "weight": 1.0, "estimator": {"kind": "scaled", "scale": 0.5}}
    assert load_config(dumped, registry) == config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("loss.estimator.scal=2.0", r"^extra fields found \(scal\); did you mean 'scale'\? @ \$\.loss\.estimator$"),
        (
            "loss.estimator.kind=exact",
            r"unknown trace_estimator 'exact' \(available: scaled\) @ \$\.loss\.estimator\.kind",
        ),
        ("loss.estimator=3", r"expected a table with a 'kind' key, got int @ \$\.loss\.estimator"),
    ],
)
def test_nested_errors_carry_the_path(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_raw(override), _registry())


def test_every_component_builds_from_its_default_config_outside_a_run() -> None:
    """``entry.build(entry.config())``, the way the interfaces' docstrings show, resolves nested components."""
    from scorekit.config import interface_of

    registry = load_registry()
    built = 0
    for kind in ("schedule", "loss", "sampler", "likelihood", "solver", "trace_estimator", "model"):
        for name in registry.names(kind):
            entry = registry.get(kind, name)
            if any(field.default is attrs.NOTHING for field in attrs.fields(entry.config)):
                continue  # options without defaults (a β list, a σ list) have no default instance
            component = entry.build(entry.config())
            interface = interface_of(kind)
            assert interface is not None and isinstance(component, interface), (kind, name)
            for value in vars(component).values():  # nested components are built, not left as tables
                assert not isinstance(value, Component), (kind, name)
            built += 1
    assert built >= 25


def test_a_bare_name_stands_for_a_nested_component_table() -> None:
    """``predictor = "heun"`` is ``[sampler.predictor] kind = "heun"``; the resolved config writes the table."""
    from tests.conftest import preset_dict

    registry = load_registry()
    raw = preset_dict("vpsde")
    raw["sampler"] = {"kind": "reverse_sde", "predictor": "heun", "corrector": {"snr": 0.1}}
    config = load_config(raw, registry)
    dumped = dump_config(config)["sampler"]
    assert dumped["predictor"] == {"kind": "heun"}
    assert dumped["corrector"] == {"kind": "langevin", "snr": 0.1}  # a table without kind adjusts the default
    with pytest.raises(ConfigError, match=r"unknown predictor 'hen'.*did you mean 'heun'.*\$\.sampler\.predictor"):
        load_config({**raw, "sampler": {"kind": "reverse_sde", "predictor": "hen"}}, registry)


def test_a_component_section_names_its_component() -> None:
    """``Component.name`` is what ``kind = "..."`` wrote; ``kind`` is its alias; the registry kind is the entry's."""
    from tests.conftest import preset_dict

    config = load_config(preset_dict(), load_registry())
    assert config.sampler is not None
    assert config.sampler.name == config.sampler.kind == "annealed_langevin"
    assert config.sampler.entry is not None and config.sampler.entry.kind == "sampler"
