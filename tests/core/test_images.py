"""Image data sets: scikit-learn's digits, and the user's images from folders and array files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits as sklearn_digits

from scorekit.builtins.configs import DigitsConfig, ImageDataConfig
from scorekit.data import sources
from scorekit.data.images import load_digits, load_images
from scorekit.errors import DataError
from scorekit.validators import FieldError

LANCZOS = Image.Resampling.LANCZOS


def to_unit(pixels: np.ndarray, low: float = 0.0, high: float = 255.0) -> np.ndarray:
    """The expected mapping of [low, high] onto [−1, 1]."""
    return ((2 * pixels.astype(np.float64) - low - high) / (high - low)).astype(np.float32)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """uint8 (H, W) as a gray PNG, (H, W, 3) as an RGB one."""
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def gray(seed: int, height: int = 4, width: int = 5) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width), dtype=np.uint8)
    pixels[0, 0], pixels[0, 1] = 0, 255
    return pixels


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three 4×5 gray PNGs, b.png, a.png, c.PNG, and a text file that is not an image."""
    root = tmp_path / "images"
    root.mkdir()
    for seed, name in enumerate(["b.png", "a.png", "c.PNG"]):
        write_png(root / name, gray(seed))
    (root / "notes.txt").write_text("not an image")
    return root


# ---------------------------------------------------------------- digits


def test_digits_are_sklearn_digits_in_minus_one_to_one() -> None:
    images = load_digits()
    reference = sklearn_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert images.min() == -1.0 and images.max() == 1.0
    np.testing.assert_array_equal(images[:, 0], reference.images / 8 - 1)
    chosen = load_digits([3, 7])
    keep = np.isin(reference.target, [3, 7])
    assert len(chosen) == keep.sum() == (reference.target == 3).sum() + (reference.target == 7).sum()
    np.testing.assert_array_equal(chosen[:, 0], reference.images[keep] / 8 - 1)


def test_digits_source_splits_all_images() -> None:
    train, heldout = sources.digits(DigitsConfig()).load()
    assert train.shape == (1617, 1, 8, 8) and heldout.shape == (180, 1, 8, 8)
    everything = torch.cat([train, heldout])
    assert everything.min().item() == -1.0 and everything.max().item() == 1.0
    # The split is a permutation of the whole set: the same multiset of images.
    expected = torch.from_numpy(load_digits()).flatten(1)
    assert torch.equal(everything.flatten(1).sum(dim=0), expected.sum(dim=0))
    again_train, _ = sources.digits(DigitsConfig()).load()
    assert torch.equal(train, again_train)
    other_train, _ = sources.digits(DigitsConfig(seed=1)).load()
    assert not torch.equal(train, other_train)
    train, heldout = sources.digits(DigitsConfig(classes=[0], heldout_fraction=0.5)).load()
    assert len(train) + len(heldout) == int((sklearn_digits().target == 0).sum())


@pytest.mark.parametrize("classes", [[], [1, 1], [10], [-1]])
def test_digits_config_rejects_bad_classes(classes: list[int]) -> None:
    with pytest.raises(FieldError, match="classes: must be a non-empty list of distinct digits 0 to 9"):
        DigitsConfig(classes=classes)


def test_digits_without_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match=r"pip install scikit-learn \(or scorekit-core\[images\]\)"):
        load_digits()


# ---------------------------------------------------------------- image folders


def test_folder_of_gray_pngs(folder: Path) -> None:
    images = load_images(folder)
    assert images.shape == (3, 1, 4, 5) and images.dtype == np.float32
    # Name order: a.png, b.png, c.PNG; the text file is skipped.
    pixels = np.stack([gray(seed) for seed in (1, 0, 2)])[:, None]
    np.testing.assert_array_equal(images, to_unit(pixels))
    assert images[0, 0, 0, 0] == -1.0 and images[0, 0, 0, 1] == 1.0
    np.testing.assert_array_equal(load_images(folder, value_range=[-255, 255]), to_unit(pixels, -255, 255))


def test_folder_of_rgb_images(tmp_path: Path) -> None:
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0)
    pixels[1, 2] = (0, 0, 255)
    write_png(tmp_path / "one.png", pixels)
    Image.fromarray(255 - pixels).save(tmp_path / "two.bmp")
    rgb = load_images(tmp_path, channels=3)
    assert rgb.shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(rgb[0], to_unit(pixels.transpose(2, 0, 1)))
    np.testing.assert_array_equal(rgb[1], to_unit(255 - pixels.transpose(2, 0, 1)))
    # Gray is Pillow's ITU-R 601-2 luma, L = (299 R + 587 G + 114 B) / 1000: pure red gives 76, blue 29.
    luma = load_images(tmp_path, channels=1)
    assert luma.shape == (2, 1, 2, 3)
    assert luma[0, 0, 0, 0] == to_unit(np.array(76)) and luma[0, 0, 1, 2] == to_unit(np.array(29))
    assert luma[0, 0, 1, 1] == -1.0 and luma[1, 0, 1, 1] == 1.0


def test_folder_resize(tmp_path: Path) -> None:
    big, small = gray(5, height=8, width=6), gray(6, height=3, width=3)
    write_png(tmp_path / "big.png", big)
    write_png(tmp_path / "small.png", small)
    write_png(tmp_path / "flat.png", np.full((5, 7), 200, dtype=np.uint8))
    images = load_images(tmp_path, size=[4, 3])
    assert images.shape == (3, 1, 4, 3)
    expected_big = np.asarray(Image.fromarray(big).resize((3, 4), LANCZOS))
    np.testing.assert_array_equal(images[0, 0], to_unit(expected_big))
    # Resampling a constant image leaves it constant.
    np.testing.assert_array_equal(images[1, 0], np.full((4, 3), to_unit(np.array(200))))


def test_folder_size_mismatch_names_the_file_and_both_sizes(folder: Path) -> None:
    write_png(folder / "d.png", gray(7, height=6, width=5))
    with pytest.raises(DataError, match=r"d\.png: is 6×5 pixels \(H×W\) but a\.png is 4×5; .*set size = \[H, W\]"):
        load_images(folder)
    assert load_images(folder, size=[6, 5]).shape == (4, 1, 6, 5)


def test_folder_errors(folder: Path, tmp_path: Path) -> None:
    good = (folder / "a.png").read_bytes()
    (folder / "e.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"e\.png: cannot read image: .+") as error:
        load_images(folder)
    assert str(error.value).startswith(str(folder / "e.png"))
    (folder / "e.png").write_bytes(b"this is no image")
    with pytest.raises(DataError, match=r"e\.png: cannot read image: cannot identify image file"):
        load_images(folder)
    (folder / "e.png").unlink()
    with pytest.raises(DataError, match=r"images: holds 3 images, more than max_images = 2"):
        load_images(folder, max_images=2)
    with pytest.raises(DataError, match=r"outside value_range \[0, 100\]"):
        load_images(folder, value_range=[0, 100])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: the folder is empty"):
        load_images(empty)
    (empty / "readme.txt").write_text("")
    (empty / "sub").mkdir()
    write_png(empty / "sub" / "x.png", gray(0))
    with pytest.raises(DataError, match=r"empty: holds no image files \(\.bmp .*subfolders are not searched\)"):
        load_images(empty)
    write_png(empty / "x.png", gray(0))
    with pytest.raises(DataError, match=r"empty: holds a single image"):
        load_images(empty)
    with pytest.raises(DataError, match=r"nowhere: no such file or directory"):
        load_images(tmp_path / "nowhere")


def test_folder_refuses_sixteen_bit_images(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 1000, dtype=np.uint16)).save(tmp_path / "deep.png")
    write_png(tmp_path / "flat.png", gray(0, 4, 4))
    with pytest.raises(DataError, match=r"deep\.png: I;16 images \(16-bit or float\) are not read"):
        load_images(tmp_path)


@pytest.mark.parametrize(("max_pixels", "shape"), [(15, (4, 5)), (8, (4, 5))])
def test_decompression_bombs_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_pixels: int, shape: tuple[int, int]
) -> None:
    # 20 pixels: above the limit Pillow warns, above twice the limit it raises; both must refuse.
    write_png(tmp_path / "a.png", gray(0, *shape))
    write_png(tmp_path / "b.png", gray(1, *shape))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", max_pixels)
    with pytest.raises(DataError, match=r"a\.png: refused by Pillow's decompression-bomb check: .*20 pixels"):
        load_images(tmp_path)


# ---------------------------------------------------------------- arrays


def test_array_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 3, 4, 5), dtype=np.uint8)
    expected = to_unit(pixels)
    np.save(tmp_path / "nchw.npy", pixels)
    np.save(tmp_path / "nhwc.npy", pixels.transpose(0, 2, 3, 1))
    np.save(tmp_path / "nhw.npy", pixels[:, 0])
    np.save(tmp_path / "n1hw.npy", pixels[:, :1])
    np.savez(tmp_path / "two.npz", images=pixels, labels=np.arange(6))
    np.testing.assert_array_equal(load_images(tmp_path / "nchw.npy", channels=3), expected)
    np.testing.assert_array_equal(load_images(tmp_path / "nhwc.npy", channels=3), expected)
    np.testing.assert_array_equal(load_images(tmp_path / "nhw.npy"), expected[:, :1])
    np.testing.assert_array_equal(load_images(tmp_path / "n1hw.npy"), expected[:, :1])
    np.testing.assert_array_equal(load_images(tmp_path / "two.npz", key="images", channels=3), expected)
    # The second axis wins when both it and the last are 1 or 3.
    np.save(tmp_path / "ambiguous.npy", pixels[:, :, :, :3])
    assert load_images(tmp_path / "ambiguous.npy", channels=3).shape == (6, 3, 4, 3)
    with pytest.raises(DataError, match=r"nchw\.npy: the images have 3 channel\(s\) but channels = 1"):
        load_images(tmp_path / "nchw.npy")
    np.save(tmp_path / "two_channels.npy", pixels[:, :2])
    with pytest.raises(DataError, match=r"with C = 1 or 3, got shape \(6, 2, 4, 5\)"):
        load_images(tmp_path / "two_channels.npy")
    np.save(tmp_path / "points.npy", pixels[:, 0, 0])
    with pytest.raises(DataError, match=r"points\.npy: expected a 3-D or 4-D array, got shape \(6, 5\)"):
        load_images(tmp_path / "points.npy")
    with pytest.raises(DataError, match=r"nhw\.npy: holds 6 images, more than max_images = 5"):
        load_images(tmp_path / "nhw.npy", max_images=5)


def test_array_value_ranges(tmp_path: Path) -> None:
    unit = np.linspace(0, 1, 2 * 3 * 3).reshape(2, 3, 3)
    np.save(tmp_path / "unit.npy", unit)
    np.testing.assert_allclose(load_images(tmp_path / "unit.npy")[:, 0], 2 * unit - 1, atol=1e-7, rtol=0)
    np.save(tmp_path / "wide.npy", 4 * unit - 2)
    with pytest.raises(DataError, match=r"wide\.npy: float values span \[-2, 2\], not \[0, 1\]; set value_range"):
        load_images(tmp_path / "wide.npy")
    np.testing.assert_allclose(
        load_images(tmp_path / "wide.npy", value_range=[-2, 2])[:, 0], 2 * unit - 1, atol=1e-7, rtol=0
    )
    mapped = load_images(tmp_path / "wide.npy", value_range=[-4, 4])
    assert mapped.min() == -0.5 and mapped.max() == 0.5
    with pytest.raises(DataError, match=r"values span \[-2, 2\], outside value_range \[-1, 1\]$"):
        load_images(tmp_path / "wide.npy", value_range=[-1, 1])
    np.save(tmp_path / "deep.npy", np.full((2, 3, 3), 300, dtype=np.int32))
    with pytest.raises(DataError, match=r"outside value_range \[0, 255\] \(the default for integer data"):
        load_images(tmp_path / "deep.npy")
    assert load_images(tmp_path / "deep.npy", value_range=[0, 300]).max() == 1.0
    with_nan = unit.copy()
    with_nan[1, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    with pytest.raises(DataError, match=r"nan\.npy: contains 1 non-finite values \(NaN or Inf\) in 1 of 2 rows"):
        load_images(tmp_path / "nan.npy")
    np.save(tmp_path / "objects.npy", np.array([None, 1.0], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"objects\.npy: holds an object array"):
        load_images(tmp_path / "objects.npy")


def test_array_resize(tmp_path: Path) -> None:
    planes = np.random.default_rng(1).random((2, 3, 6, 8)).astype(np.float32)
    planes[1, 2] = 0.25
    np.save(tmp_path / "x.npy", planes)
    images = load_images(tmp_path / "x.npy", channels=3, size=[3, 4])
    assert images.shape == (2, 3, 3, 4) and images.min() >= -1 and images.max() <= 1
    expected = np.asarray(Image.fromarray(2 * planes[0, 1] - 1).resize((4, 3), LANCZOS)).clip(-1, 1)
    np.testing.assert_allclose(images[0, 1], expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(images[1, 2], np.full((3, 4), -0.5), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- the images data set


def test_images_source_splits_and_standardizes(folder: Path) -> None:
    config = ImageDataConfig(path=str(folder), heldout_fraction=0.3, standardize="standard")
    bundle = sources.prepare(sources.images(config))
    assert bundle.event_shape == (1, 4, 5)
    assert (len(bundle.train), len(bundle.heldout)) == (2, 1)
    data = torch.cat([bundle.standardizer.inverse(bundle.train), bundle.standardizer.inverse(bundle.heldout)])
    expected = torch.from_numpy(load_images(folder))
    torch.testing.assert_close(data.sum(dim=0), expected.sum(dim=0))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("channels", 2, "must be 1 \\(gray\\) or 3 \\(RGB\\)"),
        ("size", [4], "must be \\[height, width\\]"),
        ("size", [0, 4], "must be \\[height, width\\]"),
        ("value_range", [1.0, 1.0], "low < high, finite"),
        ("value_range", [0.0, float("inf")], "low < high, finite"),
        ("max_images", 1, "must be ≥ 2"),
    ],
)
def test_images_config_validation(field: str, value: object, message: str) -> None:
    with pytest.raises(FieldError, match=f"{field}: .*{message}"):
        ImageDataConfig(path="x", **{field: value})
