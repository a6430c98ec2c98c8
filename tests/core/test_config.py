"""Configuration: TOML → attrs with path errors, overrides, and the resolved config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorekit._registry import Registry
from scorekit.config import (
    RunConfig,
    apply_overrides,
    dump_config,
    load_config,
    parse_toml,
    read_toml_file,
    write_toml_file,
)
from scorekit.errors import ConfigError
from tests.conftest import preset_dict


def test_preset_structures_into_registered_config_classes(registry: Registry) -> None:
    config = load_config(preset_dict(), registry)
    assert isinstance(config, RunConfig)
    assert config.schedule is not None and type(config.schedule.config).__name__ == "GeometricScheduleConfig"
    assert config.schedule.config.sigma_min == 0.05
    assert config.loss.kind == "ncsn" and config.train.steps == 8000


def test_resolved_config_round_trips_through_toml(registry: Registry, tmp_path: Path) -> None:
    config = load_config(apply_overrides(preset_dict(), ["train.grad_clip=1.5"]), registry)
    write_toml_file(config, tmp_path / "config.toml")
    again = load_config(read_toml_file(tmp_path / "config.toml"), registry)
    assert again == config
    assert dump_config(again) == dump_config(config)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.hiden=3", r"extra fields found \(hiden\) @ \$\.model"),
        ("train.steps='many'", r"@ \$\.train\.steps"),
        ("schedule.sigma_min=-1.0", r"must be a finite number > 0, got -1.0 @ \$\.schedule\.sigma_min"),
        ("schedule.sigma_min=9.0", r"must be smaller than sigma_max .* @ \$\.schedule\.sigma_min"),
        ("loss.kind='nope'", r"unknown loss 'nope' \(available: .*ncsn.*\) @ \$\.loss\.kind"),
        ("train.batch_size=0", r"must be ≥ 1, got 0 @ \$\.train\.batch_size"),
        ("extra.value=1", r"extra fields found \(extra\) @ \$"),
    ],
)
def test_errors_carry_a_path(registry: Registry, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(apply_overrides(preset_dict(), [override]), registry)


def test_explicit_sigmas_must_decrease(registry: Registry) -> None:
    raw = apply_overrides(preset_dict(), ["schedule.kind='sigmas'", "schedule.sigmas=[1.0, 2.0]"])
    with pytest.raises(ConfigError, match=r"strictly decreasing .* @ \$\.schedule\.sigmas"):
        load_config(raw, registry)


def test_missing_section_and_missing_kind(registry: Registry) -> None:
    raw = preset_dict()
    del raw["loss"]
    with pytest.raises(ConfigError, match=r"missing section \[loss\]"):
        load_config(raw, registry)
    raw = preset_dict()
    del raw["model"]["kind"]
    with pytest.raises(
        ConfigError, match=r"missing 'kind' \(available: cnf_mlp, ncsn_mlp, score_mlp, time_mlp, unet\) @ \$\.model"
    ):
        load_config(raw, registry)


def test_overrides_parse_toml_values_and_bare_strings() -> None:
    raw = apply_overrides({"a": {"b": 1}}, ["a.b=2.5", "a.c=[1, 2]", "a.d=true", "a.e=some/path.npy", "f.g='x'"])
    assert raw == {"a": {"b": 2.5, "c": [1, 2], "d": True, "e": "some/path.npy"}, "f": {"g": "x"}}
    with pytest.raises(ConfigError, match="expects path=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match=r"\$\.a\.b is not a table"):
        apply_overrides({"a": {"b": 1}}, ["a.b.c=1"])


def test_changing_a_kind_starts_the_section_afresh(registry: Registry) -> None:
    raw = apply_overrides(preset_dict(), ["data.kind=two_moons", "data.noise=0.1", "train.steps=5"])
    config = load_config(raw, registry)
    assert config.data.kind == "two_moons" and config.data.config.noise == 0.1
    # The same kind keeps the section's other keys.
    assert apply_overrides(preset_dict(), ["data.kind=eight_gaussians"])["data"]["standardize"] == "none"


def test_toml_syntax_error_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"run\.toml: invalid TOML"):
        parse_toml("[train\nsteps = 1", "run.toml")
