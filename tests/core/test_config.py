"""Configuration: TOML → attrs with path errors, overrides, and the resolved config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorekit._bases import BASE_KEY, MAX_BASES, read_document
from scorekit._registry import Registry
from scorekit.config import (
    RunConfig,
    apply_overrides,
    dump_config,
    load_config,
    merge_tables,
    parse_toml,
    read_toml_file,
    write_toml_file,
)
from scorekit.errors import ConfigError, closest, did_you_mean
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
        ("model.hiden=3", r"^extra fields found \(hiden\); did you mean 'hidden'\? @ \$\.model$"),
        ("train.steps='many'", r"@ \$\.train\.steps"),
        ("schedule.sigma_min=-1.0", r"must be a finite number > 0, got -1.0 @ \$\.schedule\.sigma_min"),
        ("schedule.sigma_min=9.0", r"must be smaller than sigma_max .* @ \$\.schedule\.sigma_min"),
        ("loss.kind='nope'", r"unknown loss 'nope' \(available: .*ncsn.*\) @ \$\.loss\.kind"),
        ("train.batch_size=0", r"must be ≥ 1, got 0 @ \$\.train\.batch_size"),
        ("extra.value=1", r"^extra fields found \(extra\) @ \$$"),
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
        ConfigError,
        match=r"missing 'kind' \(available: cnf_mlp, edm_precond, ncsn_mlp, score_mlp, time_mlp, unet\) @ \$\.model",
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


def test_merge_tables_merges_keys_and_starts_a_changed_kind_afresh() -> None:
    base = {
        "model": {"kind": "ncsn_mlp", "hidden": 128, "layers": 3},
        "loss": {"kind": "ssm", "projections": 2, "estimator": {"kind": "hutchinson", "probes": 4}},
        "train": {"steps": 8000, "lr": 2e-3},
    }
    over = {
        "model": {"hidden": 256},
        "loss": {"estimator": {"kind": "exact"}},
        "train": {"steps": 100},
        "sampler": {"kind": "langevin"},
    }
    assert merge_tables(base, over) == {
        "model": {"kind": "ncsn_mlp", "hidden": 256, "layers": 3},
        "loss": {"kind": "ssm", "projections": 2, "estimator": {"kind": "exact"}},
        "train": {"steps": 100, "lr": 2e-3},
        "sampler": {"kind": "langevin"},
    }
    assert merge_tables(base, {"model": {"kind": "score_mlp", "hidden": 64}})["model"] == {
        "kind": "score_mlp",
        "hidden": 64,
    }
    assert base["model"]["hidden"] == 128 and "sampler" not in base  # the inputs are left as they were
    # --set follows the same rules, nested components included.
    assert apply_overrides(base, ["loss.estimator.kind='exact'"])["loss"]["estimator"] == {"kind": "exact"}


OWN_DATA = """\
[data]
kind = "file"
path = "points.npy"
[train]
steps = 300
"""


def _own_data_expected(registry: Registry) -> RunConfig:
    raw = preset_dict()
    raw["data"] = {"kind": "file", "path": "points.npy"}
    raw["train"]["steps"] = 300
    return load_config(raw, registry)


def test_a_file_with_base_extends_the_preset(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "my.toml").write_text('base = "ncsn"\n' + OWN_DATA)
    notes: list[str] = []
    raw = read_document(str(tmp_path / "my.toml"), registry, default="ncsn", note=notes.append)
    config = load_config(raw, registry)
    assert config == _own_data_expected(registry) and notes == []
    ncsn = load_config(preset_dict(), registry)
    assert (config.model, config.schedule, config.loss, config.sampler) == (
        ncsn.model,
        ncsn.schedule,
        ncsn.loss,
        ncsn.sampler,
    )
    # [train] merged key by key: the preset's batch size and learning rate stay, steps change.
    assert (config.train.steps, config.train.batch_size, config.train.lr) == (300, 512, 2e-3)
    assert config.data.kind == "file" and config.data.config.path == "points.npy"
    assert BASE_KEY not in dump_config(config)


def test_an_incomplete_file_extends_the_default_preset_with_a_note(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "my.toml").write_text(OWN_DATA)
    notes: list[str] = []
    raw = read_document(str(tmp_path / "my.toml"), registry, default="ncsn", note=notes.append)
    assert load_config(raw, registry) == _own_data_expected(registry)
    assert notes == [
        f"{tmp_path / 'my.toml'} has no [model], [loss]: extending the default preset 'ncsn' "
        '(write base = "ncsn" to make this explicit)'
    ]
    # A complete file is used as it is: nothing merged, no note.
    complete = preset_dict()
    del complete["sampler"], complete["schedule"]
    complete["loss"] = {"kind": "ism"}
    write_toml_file(load_config(complete, registry), tmp_path / "complete.toml")
    raw = read_document(str(tmp_path / "complete.toml"), registry, default="ncsn", note=notes.append)
    assert "schedule" not in raw and "sampler" not in raw and len(notes) == 1


def test_bases_chain_relative_to_the_file_that_names_them(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mid.toml").write_text('base = "ncsn"\n[train]\nsteps = 100\n[model]\nlayers = 2\n')
    (tmp_path / "top.toml").write_text('base = "sub/mid.toml"\n[model]\nhidden = 256\n')
    config = load_config(read_document(str(tmp_path / "top.toml"), registry, default="ncsn"), registry)
    assert config.model.kind == "ncsn_mlp"
    assert (config.model.config.hidden, config.model.config.layers, config.train.steps) == (256, 2, 100)
    assert config.train.batch_size == 512


def test_kind_none_leaves_an_optional_section_out(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "ism.toml").write_text('base = "ncsn"\n[schedule]\nkind = "none"\n[loss]\nkind = "ism"\n')
    raw = apply_overrides(read_document(str(tmp_path / "ism.toml"), registry, default="ncsn"), ["sampler.kind=none"])
    config = load_config(raw, registry)
    assert config.schedule is None and config.sampler is None and config.loss.kind == "ism"
    assert set(dump_config(config)) == {"data", "model", "loss", "train", "sample", "eval"}
    with pytest.raises(ConfigError, match=r"^extra fields found \(sigma_max\) @ \$\.schedule$"):
        load_config(apply_overrides(raw, ["schedule.kind=none", "schedule.sigma_max=1.0"]), registry)
    with pytest.raises(ConfigError, match=r"^unknown loss 'none' \(available: .*\) @ \$\.loss\.kind$"):
        load_config(apply_overrides(raw, ["loss.kind=none"]), registry)


def test_base_mistakes_are_one_line_with_the_file_and_a_suggestion(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.toml").write_text('base = "b.toml"\n')
    Path("b.toml").write_text('base = "a.toml"\n')
    with pytest.raises(ConfigError, match=r"^b\.toml: bases form a cycle: a\.toml → b\.toml → a\.toml @ \$\.base$"):
        read_document("a.toml", registry, default="ncsn")
    Path("self.toml").write_text('base = "self.toml"\n')
    with pytest.raises(ConfigError, match=r"^self\.toml: bases form a cycle: self\.toml → self\.toml @ \$\.base$"):
        read_document("self.toml", registry, default="ncsn")
    for i in range(MAX_BASES + 1):
        Path(f"c{i}.toml").write_text(f'base = "c{i + 1}.toml"\n')
    Path(f"c{MAX_BASES + 1}.toml").write_text('base = "ncsn"\n')
    with pytest.raises(ConfigError, match=rf"^c0\.toml: more than {MAX_BASES} bases in a chain \(c1\.toml → …\)"):
        read_document("c0.toml", registry, default="ncsn")
    Path("typo.toml").write_text('base = "ncns"\n')
    with pytest.raises(
        ConfigError,
        match=r"^typo\.toml: unknown preset 'ncns' \(available: [a-z_, ]*\); did you mean 'ncsn'\? @ \$\.base$",
    ):
        read_document("typo.toml", registry, default="ncsn")
    Path("missing.toml").write_text('base = "tyop.toml"\n')
    with pytest.raises(
        ConfigError,
        match=r"^missing\.toml: base file tyop\.toml does not exist; did you mean 'typo\.toml'\? @ \$\.base$",
    ):
        read_document("missing.toml", registry, default="ncsn")
    Path("preset.toml").write_text('base = "ncsn.toml"\n')
    with pytest.raises(ConfigError, match=r"did you mean the preset 'ncsn'\? @ \$\.base$"):
        read_document("preset.toml", registry, default="ncsn")
    Path("number.toml").write_text("base = 3\n")
    with pytest.raises(ConfigError, match=r"^number\.toml: base must be a preset name or a \.toml file, got 3"):
        read_document("number.toml", registry, default="ncsn")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.step=5", r"^extra fields found \(step\); did you mean 'steps'\? @ \$\.train$"),
        ("trian.steps=5", r"^extra fields found \(trian\); did you mean 'train'\? @ \$$"),
        ("bsae='ncsn'", r"^extra fields found \(bsae\); did you mean 'base'\? @ \$$"),
        (
            "loss.kind=ncns",
            r"^unknown loss 'ncns' \(available: [a-z_, ]*\bncsn\b[a-z_, ]*\); did you mean 'ncsn'\? @ \$\.loss\.kind$",
        ),
        ("loss.estimator.prbes=2", r"did you mean 'probes'\? @ \$\.loss\.estimator$"),
    ],
)
def test_misspellings_get_a_suggestion(registry: Registry, override: str, message: str) -> None:
    raw = apply_overrides(preset_dict(), ["loss.kind=ssm"]) if "estimator" in override else preset_dict()
    with pytest.raises(ConfigError, match=message):
        load_config(apply_overrides(raw, [override]), registry)


def test_did_you_mean() -> None:
    assert did_you_mean("ncns", ["dsm", "ncsn", "ssm"]) == "; did you mean 'ncsn'?"
    assert did_you_mean("optimizer", ["data", "model", "train"]) == ""
    assert did_you_mean(["hiden", "xyz", "layrs"], ["hidden", "layers"]) == (
        "; did you mean 'hidden' for 'hiden', 'layers' for 'layrs'?"
    )
    assert (closest("dms", ["dsm", "ncsn"]), closest("extra", ["train"])) == ("dsm", None)
