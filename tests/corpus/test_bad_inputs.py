"""The bad-input corpus (bad_inputs.toml): each mistake exits 2 with its one-line message, no traceback."""

from __future__ import annotations

import contextlib
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

# Every *.toml here is a part of the corpus (bad_inputs.toml, and one file per class of mistakes).
CASES: list[dict[str, Any]] = [
    case for part in sorted(Path(__file__).parent.glob("*.toml")) for case in tomllib.loads(part.read_text())["case"]
]


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


def _npy_header(path: Path, shape: tuple[int, ...], size: int = 0) -> None:
    """A .npy header declaring ``shape`` float64, then 64 bytes; ``size`` makes the file sparse to that size."""
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": shape})
        f.write(bytes(64))
        if size:
            f.truncate(size)


ARRAYS: dict[str, Callable[[Path], None]] = {
    "fifo": lambda p: os.mkfifo(p),
    "symlink_loop": lambda p: p.symlink_to(p.name),
    "dangling_link": lambda p: p.symlink_to("nowhere-at-all"),
    "dev_zero_link": lambda p: p.symlink_to("/dev/zero"),
    "npy_lying_header": lambda p: _npy_header(p, (10**12, 2)),
    "npy_sparse_10gib": lambda p: _npy_header(p, (10 * 2**30 // 16, 2), 10 * 2**30 + 128),
    "big_config": lambda p: p.write_text("# " + "x" * 2**20 + "\n"),
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


def _tamper(change: Callable[[dict[str, Any], dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Rewrite the latest checkpoint of the run at ``run_dir`` through ``change(tensors, meta)``."""

    def apply(run_dir: Path) -> None:
        import json

        from scorekit.engine.checkpoint import list_checkpoints, read_checkpoint, write_checkpoint

        path = list_checkpoints(run_dir / "checkpoints")[-1]
        checkpoint = read_checkpoint(path)
        tensors, meta = dict(checkpoint.tensors), json.loads(json.dumps(checkpoint.meta))
        step = change(tensors, meta)
        path.unlink()
        write_checkpoint(
            run_dir / "checkpoints", step if isinstance(step, int) else checkpoint.step, tensors, meta, keep=9
        )

    return apply


def _torch() -> Any:
    import torch

    return torch


#: Damage done to a copy of the trained run's latest checkpoint (`tamper = "name"` in a case).
TAMPER: dict[str, Callable[[Path], None]] = {
    "adam_moment_shape": _tamper(lambda t, m: t.update({"optimizer/0/exp_avg": _torch().zeros(3)})),
    "step_tensor_shape": _tamper(lambda t, m: t.update({"optimizer/0/step": _torch().zeros(4)})),
    "int8_weights": _tamper(lambda t, m: t.update({"model/output.weight": t["model/output.weight"].to(_torch().int8)})),
    "nan_weights": _tamper(lambda t, m: t.update({"model/output.bias": t["model/output.bias"] * float("nan")})),
    "inf_ema": _tamper(lambda t, m: t.update({"ema/1": t["ema/1"] * float("inf")})),
    "extra_tensor": _tamper(lambda t, m: t.update({"optimizer/99/exp_avg": _torch().zeros(1)})),
    "missing_rng": _tamper(lambda t, m: t.pop("rng/torch")),
    "huge_step": _tamper(lambda t, m: 10**16),
    "renamed_step": lambda run: (run / "checkpoints" / "step-00000060.safetensors").rename(
        run / "checkpoints" / "step-99999999.safetensors"
    ),
    "lock_symlink": lambda run: (run / ".lock").unlink(missing_ok=True) or (run / ".lock").symlink_to("../base.toml"),
    "checkpoints_file": lambda run: (
        __import__("shutil").rmtree(run / "checkpoints") or (run / "checkpoints").write_text("not a directory")
    ),
    "event_shape_rank3": _tamper(lambda t, m: m.update({"event_shape": [1, 2, 1]})),
    "event_shape_huge": _tamper(lambda t, m: m.update({"event_shape": [10**15]})),
    "numpy_rng_short": _tamper(lambda t, m: m.update({"numpy_random": ["MT19937", [1, 2, 3], 0, 0, 0.0]})),
    "skipped_negative": _tamper(lambda t, m: m.update({"skipped_steps": -5})),
    "optimizer_groups_missing": _tamper(lambda t, m: m.pop("optimizer_groups")),
    "optimizer_lr_nan": _tamper(lambda t, m: m["optimizer_groups"][0].update({"lr": float("nan")})),
    "config_changed": _tamper(lambda t, m: m["config"]["model"].update({"hidden": 31})),
    "config_missing": _tamper(lambda t, m: m.pop("config")),
    "standardizer_scale_zero": _tamper(lambda t, m: m["standardizer"].update({"scale": [0.0, 0.0]})),
    "standardizer_dims": _tamper(lambda t, m: m["standardizer"].update({"mean": [0.0] * 5, "scale": [1.0] * 5})),
    "standardizer_huge_int": _tamper(lambda t, m: m["standardizer"].update({"mean": [10**400, 0]})),
    "optimizer_betas_int": _tamper(lambda t, m: m["optimizer_groups"][0].update({"betas": 5})),
    "optimizer_amsgrad": _tamper(lambda t, m: m["optimizer_groups"][0].update({"amsgrad": True})),
    "optimizer_eps_text": _tamper(lambda t, m: m["optimizer_groups"][0].update({"eps": "tiny"})),
}


def _nan_rows(self: Any, model: Any, shape: Any, **kw: Any) -> Any:
    import torch

    x = torch.zeros(shape)
    x[: shape[0] // 2] = float("nan")
    return x


def _raise(exc: BaseException) -> Any:
    raise exc


#: Components broken on purpose (`break = "name"`): (module, attribute path, replacement).
BREAKS: dict[str, tuple[str, str, Any]] = {
    "model_output_shape": ("scorekit.nets.mlp", "NCSNMLP.forward", lambda self, x, t: x[:, :1]),
    "model_raises": ("scorekit.nets.mlp", "NCSNMLP.forward", lambda self, x, t: _raise(RuntimeError("bad matmul"))),
    "loss_vector": (
        "scorekit_dsm.losses",
        "NCSNLoss.__call__",
        lambda self, model, x0, **kw: model(x0, x0.new_ones(len(x0))).sum(1),
    ),
    "loss_detached": ("scorekit_dsm.losses", "NCSNLoss.__call__", lambda self, model, x0, **kw: x0.sum().detach()),
    "loss_exits": ("scorekit_dsm.losses", "NCSNLoss.__call__", lambda self, *a, **kw: _raise(SystemExit(3))),
    "loss_raises": ("scorekit_dsm.losses", "NCSNLoss.__call__", lambda self, *a, **kw: _raise(KeyError("sigma"))),
    "sampler_list": (
        "scorekit_annealed_langevin.sampler",
        "AnnealedLangevin.sample",
        lambda self, model, shape, **kw: [[0.0] * 2] * shape[0],
    ),
    "sampler_shape": (
        "scorekit_annealed_langevin.sampler",
        "AnnealedLangevin.sample",
        lambda self, model, shape, **kw: _torch().zeros(shape[0], 3),
    ),
    "sampler_dtype": (
        "scorekit_annealed_langevin.sampler",
        "AnnealedLangevin.sample",
        lambda self, model, shape, **kw: _torch().zeros(shape, dtype=_torch().int64),
    ),
    "sampler_raises": (
        "scorekit_annealed_langevin.sampler",
        "AnnealedLangevin.sample",
        lambda self, *a, **kw: _raise(ZeroDivisionError("float division by zero")),
    ),
    "sampler_nan": ("scorekit_annealed_langevin.sampler", "AnnealedLangevin.sample", _nan_rows),
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
    assert {case["tamper"] for case in CASES if "tamper" in case} <= set(TAMPER)
    assert {case["break"] for case in CASES if "break" in case} <= set(BREAKS)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_bad_input_exits_with_its_one_line_message(
    case: dict[str, Any],
    trained_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "base.toml", small_config())
    if "tamper" in case or "hold_lock" in case:  # a copy to damage or lock; the shared run stays intact
        import shutil

        shutil.copytree(trained_run, tmp_path / "run")
        if "tamper" in case:
            TAMPER[case["tamper"]](tmp_path / "run")
    else:
        (tmp_path / "run").symlink_to(trained_run)
    if "break" in case:
        import importlib

        module, attribute, replacement = BREAKS[case["break"]]
        owner, name = attribute.split(".")
        monkeypatch.setattr(getattr(importlib.import_module(module), owner), name, replacement)
    for name, text in case.get("files", {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for name, generator in case.get("arrays", {}).items():
        ARRAYS[generator](tmp_path / name)
    checkpoints_before = sorted(p.name for p in (trained_run / "checkpoints").iterdir())

    with contextlib.ExitStack() as stack:
        if case.get("hold_lock"):  # another writer training there (flock is per open file: this counts)
            from scorekit.engine.lock import run_lock

            stack.enter_context(run_lock(tmp_path / "run"))
        with pytest.raises(SystemExit) as exit_info:
            main(case["args"])
    _, err = capsys.readouterr()

    assert exit_info.value.code == case.get("exit", 2), err
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
