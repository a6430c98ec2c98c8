"""Loading the user's arrays: good files, bad shapes, non-finite values, pickles that must not run."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from scorekit.data import (
    load_array,
    split,
)
from scorekit.errors import DataError
from tests.core.data_helpers import seeded

# ---------------------------------------------------------------- arrays


class WritesMarkerWhenUnpickled:
    """Unpickling this object creates a file: proof that a loader executed a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_load_good_npy(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / "data.npy", data)
    loaded = load_array(tmp_path / "data.npy")
    assert loaded.dtype == np.float32 and loaded.shape == (6, 2)
    np.testing.assert_array_equal(loaded, data)
    np.save(tmp_path / "ints.npy", np.arange(10).reshape(5, 2))
    assert load_array(str(tmp_path / "ints.npy")).dtype == np.float32


def test_load_good_npz(tmp_path: Path) -> None:
    a, b = np.ones((4, 3)), np.zeros((5, 1))
    np.savez(tmp_path / "one.npz", points=a)
    np.testing.assert_array_equal(load_array(tmp_path / "one.npz"), a)
    np.savez(tmp_path / "two.npz", a=a, b=b)
    np.testing.assert_array_equal(load_array(tmp_path / "two.npz", key="b"), b)
    with pytest.raises(DataError, match=r"two\.npz: .*2 arrays.*'a', 'b'"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(DataError, match=r"no array 'c'.*'a', 'b'"):
        load_array(tmp_path / "two.npz", key="c")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.arange(5.0), r"shape \(5,\)"),
        (np.zeros((3, 4, 5)), r"expected a float array of shape \(N, d\), got shape \(3, 4, 5\)"),
        (np.zeros((1, 3)), r"at least 2 points"),
        (np.zeros((4, 0)), r"at least 1 dimension"),
        (np.array([["a", "b"], ["c", "d"]]), r"numeric"),
        (np.ones((3, 2), dtype=complex), r"numeric"),
        (np.full((3, 2), 1e300), r"float32 range"),
    ],
)
def test_load_rejects_bad_arrays(tmp_path: Path, array: np.ndarray, message: str) -> None:
    path = tmp_path / "data.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=message) as error:
        load_array(path)
    assert str(error.value).startswith(str(path))


def test_load_reports_non_finite_values(tmp_path: Path) -> None:
    data = np.zeros((10, 3))
    data[2, 0] = np.nan
    data[2, 1] = np.inf
    data[7, 2] = -np.inf
    np.save(tmp_path / "data.npy", data)
    with pytest.raises(DataError, match=r"contains 3 non-finite values \(NaN or Inf\) in 2 of 10 rows"):
        load_array(tmp_path / "data.npy")


def test_object_arrays_are_refused_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    payload = np.array([WritesMarkerWhenUnpickled(marker), 1.0], dtype=object)
    np.save(tmp_path / "objects.npy", payload, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=payload)
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps(WritesMarkerWhenUnpickled(marker)))
    for name in ("objects.npy", "objects.npz"):
        with pytest.raises(DataError, match=rf"{name}: holds an object array"):
            load_array(tmp_path / name)
    with pytest.raises(DataError, match=r"pickle\.npy: cannot read file: .*neither in \.npy nor in \.npz format"):
        load_array(tmp_path / "pickle.npy")
    assert not marker.exists()
    pickle.loads(pickle.dumps(WritesMarkerWhenUnpickled(marker))).close()
    assert marker.exists(), "the payload must really execute when unpickled"


def test_unreadable_files(tmp_path: Path) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((100, 4)))
    (tmp_path / "truncated.npy").write_bytes(good.read_bytes()[:200])
    np.savez(tmp_path / "good.npz", x=np.zeros((100, 4)))
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:150])
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    for name in ("truncated.npy", "truncated.npz", "empty.npy", "garbage.npy"):
        with pytest.raises(DataError, match=rf"{name}: cannot read file: .+"):
            load_array(tmp_path / name)
    with pytest.raises(DataError, match=r"missing\.npy: no such file"):
        load_array(tmp_path / "missing.npy")
    with pytest.raises(DataError, match="single array"):
        load_array(good, key="x")
    with zipfile.ZipFile(tmp_path / "notes.npz", "w") as archive:
        archive.writestr("notes.txt", "not an array")
    with pytest.raises(DataError, match=r"notes\.npz: archive member 'notes.txt' is not a \.npy array"):
        load_array(tmp_path / "notes.npz")


def test_load_other_ranks(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.save(tmp_path / "images.npy", images)
    kept = load_array(tmp_path / "images.npy", ndims=(3, 4), dtype=None)
    assert kept.dtype == np.uint8
    np.testing.assert_array_equal(kept, images)
    as_float = load_array(tmp_path / "images.npy", ndims=(3, 4))
    assert as_float.dtype == np.float32 and as_float.shape == (2, 3, 4)
    with pytest.raises(
        DataError, match=r"images\.npy: expected a float array of shape \(N, d\), got shape \(2, 3, 4\)"
    ):
        load_array(tmp_path / "images.npy")
    with pytest.raises(DataError, match=r"images\.npy: expected a 4-D array, got shape \(2, 3, 4\)"):
        load_array(tmp_path / "images.npy", ndims=(4,))
    np.save(tmp_path / "empty.npy", np.zeros((5, 0, 4)))
    with pytest.raises(DataError, match=r"at least 2 points and no empty axis, got shape \(5, 0, 4\)"):
        load_array(tmp_path / "empty.npy", ndims=(3,))
    with_nan = np.zeros((4, 2, 2, 2))
    with_nan[1, 0, 1, 1] = with_nan[3, 1, 0, 0] = with_nan[3, 1, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    with pytest.raises(DataError, match=r"contains 3 non-finite values \(NaN or Inf\) in 2 of 4 rows"):
        load_array(tmp_path / "nan.npy", ndims=(4,))


def test_split_partitions_the_rows() -> None:
    x = torch.arange(100.0)[:, None].repeat(1, 3)
    train, held_out = split(x, 0.2, seeded(22))
    assert (len(train), len(held_out)) == (80, 20)
    torch.testing.assert_close(torch.cat([train, held_out])[:, 0].sort().values, torch.arange(100.0))
    again_train, again_held_out = split(x, 0.2, seeded(22))
    assert torch.equal(train, again_train) and torch.equal(held_out, again_held_out)
    assert not torch.equal(held_out, torch.arange(80.0, 100.0)[:, None].repeat(1, 3))
    tiny_train, tiny_held_out = split(x[:3], 0.01, seeded(22))
    assert (len(tiny_train), len(tiny_held_out)) == (2, 1)
    with pytest.raises(ValueError, match="heldout_fraction"):
        split(x, 1.0, seeded(22))
