"""The bad-input corpus (bad_inputs.toml): each mistake exits 2 with its one-line message, no traceback."""

from __future__ import annotations

import os
import pickle
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scorekit.cli import main
from tests.conftest import small_config, write_toml

CASES: list[dict[str, Any]] = tomllib.loads((Path(__file__).parent / "bad_inputs.toml").read_text())["case"]


class _Payload:
    """Unpickling this would create a marker file; loading must never get that far."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch executed-marker",))


def _object_array(path: Path) -> None:
    np.save(path, np.array([_Payload(), 1], dtype=object), allow_pickle=True)


def _npz_two(path: Path) -> None:
    np.savez(path, a=np.zeros((4, 2)), b=np.ones((4, 2)))


def _with_nans(path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    x[[1, 4, 7], 0] = np.nan
    np.save(path, x)


ARRAYS: dict[str, Callable[[Path], None]] = {
    "empty_file": lambda p: p.write_bytes(b""),
    "rank3": lambda p: np.save(p, np.zeros((10, 2, 2), dtype=np.float32)),
    "rank1": lambda p: np.save(p, np.zeros(10, dtype=np.float32)),
    "with_nans": _with_nans,
    "object_array": _object_array,
    "npz_two_arrays": _npz_two,
    "points_d2": lambda p: np.save(p, np.zeros((4, 2), dtype=np.float32)),
    "points_d3": lambda p: np.save(p, np.zeros((4, 3), dtype=np.float32)),
    "latin1_text": lambda p: p.write_bytes("[train]\nsteps = 3 # réglé\n".encode("latin-1")),
    "images_two_channels": lambda p: np.save(p, np.zeros((4, 2, 5, 5), dtype=np.uint8)),
    "float_images_wide": lambda p: np.save(p, np.linspace(-1, 1, 4 * 5 * 5).reshape(4, 5, 5)),
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    config = write_toml(root / "base.toml", small_config())
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config), "--run-dir", str(root / "run")])
    assert exit_info.value.code == 0
    return root / "run"


def test_corpus_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 30
    assert len({case["name"] for case in CASES}) == len(CASES)
    assert set().union(*(case.get("arrays", {}).values() for case in CASES)) <= set(ARRAYS)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_bad_input_exits_2_with_its_message(
    case: dict[str, Any],
    trained_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "base.toml", small_config())
    (tmp_path / "run").symlink_to(trained_run)
    for name, text in case.get("files", {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for name, generator in case.get("arrays", {}).items():
        ARRAYS[generator](tmp_path / name)
    checkpoints_before = sorted(p.name for p in (trained_run / "checkpoints").iterdir())

    with pytest.raises(SystemExit) as exit_info:
        main(case["args"])
    _, err = capsys.readouterr()

    assert exit_info.value.code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert re.search(case["message"], err), f"{err!r} does not match {case['message']!r}"
    assert not (tmp_path / "executed-marker").exists()
    # A rejected command loses nothing: the trained run is as it was.
    assert sorted(p.name for p in (trained_run / "checkpoints").iterdir()) == checkpoints_before


def test_payload_would_execute_if_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The object-array case is a real attack: unpickling it does run code (so its test means something)."""
    monkeypatch.chdir(tmp_path)
    pickle.loads(pickle.dumps(_Payload()))
    assert (tmp_path / "executed-marker").exists()
