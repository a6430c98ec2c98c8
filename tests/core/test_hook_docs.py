"""docs/hooks.md documents every hook of scorekit._hookspecs, with its current arguments, and no other."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from scorekit import _hookspecs

HOOKS_DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def hookspecs() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(_hookspecs, inspect.isfunction)
        if name.startswith("scorekit_")
    }


def sections() -> dict[str, str]:
    """Level-2 sections of docs/hooks.md whose heading starts with ``scorekit_``: heading → body."""
    parts = re.split(r"^## (.+?)\s*$", HOOKS_DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {
        heading: body for heading, body in zip(parts[1::2], parts[2::2], strict=True) if heading.startswith("scorekit_")
    }


def test_every_scorekit_function_is_a_hookspec() -> None:
    for name in hookspecs():
        assert getattr(getattr(_hookspecs, name), f"{_hookspecs.PROJECT_NAME}_spec", None) is not None, name


def test_every_hook_is_documented_and_every_documented_hook_exists() -> None:
    documented, specified = set(sections()), set(hookspecs())
    assert specified - documented == set(), "hooks without a '## name' section in docs/hooks.md"
    assert documented - specified == set(), "sections of docs/hooks.md naming no hook"


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_documented_signature_matches_the_spec(name: str) -> None:
    match = re.search(rf"def {name}\(([^)]*)\)", sections().get(name, ""))
    assert match, f"the section of {name} shows no 'def {name}(...)' signature"
    documented = [part.split(":")[0].strip() for part in match.group(1).split(",") if part.strip()]
    assert documented == list(hookspecs()[name].parameters)


def test_the_plugin_guide_states_the_plain_sections_defaults() -> None:
    """The table of inherited defaults in docs/plugin-author-guide.md is the config classes' defaults."""
    from pathlib import Path

    import attrs

    from scorekit.config import EvalConfig, SampleConfig, TrainConfig

    guide = (Path(__file__).resolve().parents[2] / "docs" / "plugin-author-guide.md").read_text(encoding="utf-8")
    for section, cls in (("train", TrainConfig), ("sample", SampleConfig), ("eval", EvalConfig)):
        (row,) = [line for line in guide.splitlines() if line.startswith(f"| `[{section}]` |")]
        for field in attrs.fields(cls):
            value = field.default
            written = (
                f'"{value}"'
                if isinstance(value, str)
                else str(value).lower()
                if isinstance(value, bool)
                else repr(value)
            )
            assert f"`{field.name} = {written}`" in row, (section, field.name, written)
