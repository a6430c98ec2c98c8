"""Conditioning: labels from the data, through losses and samplers unchanged, to class-conditional models."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from scorekit._registry import Registry
from scorekit.builtins import configs
from scorekit.condition import NO_LABEL, Condition, Conditioned, labels_from
from scorekit.data.mixture import eight_gaussians
from scorekit.data.sources import array_file, digits, prepare, radial_mixture
from scorekit.engine.sampling import sample_in_chunks
from scorekit.errors import ConfigError, DataError, UserError
from scorekit.evaluation import KernelScoreModel
from scorekit.interfaces import Loss, Sampler
from scorekit.testing import check_conditioning
from tests.conftest import small_config, write_toml
from tests.core.test_cli import run_cli


def _build(registry: Registry, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


# -- labels in ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "expected"),
    [(3, [3, 3, 3]), ([0, 2, 1], [0, 2, 1]), (np.array([1.0, 2.0, 0.0]), [1, 2, 0]), (torch.tensor(2), [2, 2, 2])],
)
def test_labels_from_accepts_one_class_or_one_per_row(label: Any, expected: list[int]) -> None:
    labels = labels_from(label, 3, num_classes=4)
    assert labels.dtype == torch.int64 and labels.tolist() == expected


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (4, "label 4 is not a trained class; this run's classes are 0 to 3"),
        (-1, "label -1 is not a trained class"),
        (1.5, "labels must be integers"),
        ("two", "labels must be integers"),
        (True, "labels must be integers"),
        ([0, 1], r"one per sample \(3\)"),
        (10**30, "label 1000000000000000000000000000000 is not a trained class"),
    ],
)
def test_labels_from_rejects_bad_labels_in_one_line(label: Any, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        labels_from(label, 3, num_classes=4)
    assert "\n" not in str(info.value)


def test_mixture_labels_are_the_components_and_leave_the_points_unchanged() -> None:
    config = configs.RadialMixtureConfig(num_train=4000, num_heldout=500)
    bundle = prepare(radial_mixture(config))
    density = eight_gaussians()
    unlabelled = density.sample(4000, generator=torch.Generator().manual_seed(config.seed))
    assert torch.equal(bundle.train, unlabelled)  # the same draws as before labels existed
    assert bundle.num_classes == 8 and bundle.train_labels is not None and bundle.heldout_labels is not None
    # Each point lies within a few std of its label's mean (std 0.3; modes 3.06 apart).
    distance = (bundle.train - density.means.float()[bundle.train_labels]).norm(dim=1)
    assert float(distance.max()) < 6 * 0.3
    assert sum(bundle.label_counts() or []) == 4000 and bundle.heldout_labels.shape == (500,)


def test_digits_are_labelled_by_digit() -> None:
    from sklearn.datasets import load_digits

    target = load_digits().target
    bundle = prepare(digits(configs.DigitsConfig(classes=[3, 7])))
    assert bundle.num_classes == 10
    assert bundle.label_counts() is not None
    labels = torch.cat([bundle.train_labels, bundle.heldout_labels])  # type: ignore[list-item]
    assert set(labels.tolist()) == {3, 7}
    assert int((labels == 3).sum()) == int((target == 3).sum()) and int((labels == 7).sum()) == int((target == 7).sum())
    # Rows keep their labels through the split: the mean 3 differs from the mean 7 as in the raw data.
    images = load_digits().images / 8 - 1
    train = bundle.train.reshape(-1, 64)
    for digit in (3, 7):
        mean = train[bundle.train_labels == digit].mean(0).double()
        assert float((mean - torch.from_numpy(images[target == digit].reshape(-1, 64).mean(0))).abs().max()) < 0.15


def test_array_file_labels_from_a_key_or_a_second_file(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    x[:, 0] = np.arange(50)  # row i is recognisable by its first coordinate
    y = np.arange(50) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "y.npy", y.astype(np.float64))  # integral floats are accepted
    for extra in ({"labels_key": "y"}, {"labels_path": str(tmp_path / "y.npy")}):
        config = configs.FileDataConfig(path=str(tmp_path / "d.npz"), key="x", standardize="none", **extra)
        bundle = prepare(array_file(config))
        assert bundle.num_classes == 3 and bundle.train_labels is not None
        rows = bundle.train[:, 0].round().long()
        assert torch.equal(bundle.train_labels, rows % 3)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.arange(49), r"expected labels of shape \(50,\), one per data point"),
        (np.full(50, 0.5), "labels must be integers"),
        (np.full(50, -2), "labels must lie in"),
        (np.array(["a"] * 50), "labels must be integers"),
    ],
)
def test_array_file_rejects_bad_labels(tmp_path: Path, labels: np.ndarray, message: str) -> None:
    np.save(tmp_path / "x.npy", np.zeros((50, 2), np.float32))
    np.save(tmp_path / "y.npy", labels)
    config = configs.FileDataConfig(path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"))
    with pytest.raises(DataError, match=message):
        prepare(array_file(config))


# -- models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "shape"), [("ncsn_mlp", (2,)), ("time_mlp", (2,)), ("unet", (1, 8, 8))])
def test_builtin_nets_take_labels(registry: Registry, kind: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = _build(registry, "model", kind, classes=3)
    model.bind(shape)
    for p in model.parameters():  # the UNet starts at output 0: give every layer weight
        torch.nn.init.normal_(p, std=0.2)
    x, t = torch.randn(4, *shape).expand(4, *shape), torch.full((4,), 0.5)
    out = model(x, t, condition=Condition(torch.tensor([0, 1, 2, NO_LABEL])))
    assert out.shape == (4, *shape)
    assert all(not torch.allclose(out[i], out[j]) for i in range(4) for j in range(i))  # one output per class
    with pytest.raises(ValueError, match="class-conditional"):
        model(x, t)
    with pytest.raises(ValueError, match="labels must lie in"):
        model(x, t, condition=Condition(torch.tensor([0, 1, 2, 3])))
    assert model.num_classes == 3 and _build(registry, "model", kind).num_classes == 0


# -- the path: losses and samplers unchanged ------------------------------------------------------
def test_samplers_follow_each_rows_label_on_exact_scores(registry: Registry) -> None:
    """The exact class-conditional score: every sample lands on its own row's mode, across chunks."""
    density = eight_gaussians()
    for schedule_kind, sampler_kind, values in [
        ("geometric", "annealed_langevin", {"steps_per_level": 20, "epsilon": 5e-4}),
        ("vp", "reverse_sde", {"steps": 100}),
        ("linear", "ddim", {"steps": 20}),
    ]:
        schedule = _build(registry, "schedule", schedule_kind)
        sampler = _build(registry, "sampler", sampler_kind, **values)
        model = KernelScoreModel(density, schedule, conditional=True)
        labels = torch.arange(256) % 8
        x = sample_in_chunks(
            sampler,
            model,
            256,
            (2,),
            schedule=schedule,
            generator=torch.Generator().manual_seed(0),
            device=torch.device("cpu"),
            chunk_size=100,  # three chunks, the last a partial one
            condition=Condition(labels),
        )
        hits = float((density.assign(x) == labels).float().mean())
        assert hits >= 0.99, (sampler_kind, hits)


def test_null_label_is_the_unconditional_score() -> None:
    schedule_t = torch.full((5,), 0.7)

    class Sigma:
        def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.ones_like(t), t

    density = eight_gaussians()
    model = KernelScoreModel(density, Sigma(), conditional=True)  # type: ignore[arg-type]
    x = torch.randn(5, 2, dtype=torch.float64) * 3
    null = model(x, schedule_t.double(), condition=Condition(torch.full((5,), NO_LABEL)))
    assert torch.allclose(null, density.score(x, sigma=0.7))
    one = model(x, schedule_t.double(), condition=Condition(torch.full((5,), 2)))
    assert torch.allclose(one, (density.means[2] - x) / (0.3**2 + 0.7**2))


def test_builtin_losses_and_samplers_pass_the_conditioning_check(registry: Registry) -> None:
    geometric, vp = _build(registry, "schedule", "geometric"), _build(registry, "schedule", "vp")
    for kind, name, schedule in [
        ("loss", "ncsn", geometric),
        ("loss", "dsm", vp),
        ("loss", "ddpm", _build(registry, "schedule", "linear")),
        ("loss", "ssm", None),
        ("loss", "ism", None),
        ("sampler", "annealed_langevin", geometric),
        ("sampler", "reverse_sde", vp),
        ("sampler", "probability_flow", vp),
        ("sampler", "ddpm", _build(registry, "schedule", "linear")),
    ]:
        check_conditioning(registry.get(kind, name).build(), schedule=schedule)


class _RepeatingLoss(Loss):
    """Evaluates the model on its batch twice over, in one call (as a many-projection loss might)."""

    parametrization = "score"
    needs_schedule = False

    def __call__(self, model: Any, x0: torch.Tensor, *, schedule: Any, generator: Any = None) -> torch.Tensor:
        t = torch.zeros(2 * x0.shape[0], dtype=x0.dtype)
        return model(torch.cat([x0, x0]), t).square().mean()


class _DoublingSampler(Sampler):
    needs_schedule = False

    def sample(
        self,
        model: Any,
        shape: Any,
        *,
        schedule: Any,
        generator: Any = None,
        device: Any = "cpu",
        dtype: Any = torch.float32,
    ) -> torch.Tensor:
        x = torch.randn(shape, generator=generator, dtype=dtype)
        return model(torch.cat([x, x]), torch.ones(2 * shape[0], dtype=dtype))[: shape[0]]


@pytest.mark.parametrize("component", [_RepeatingLoss(), _DoublingSampler()])
def test_conditioning_check_fails_a_component_that_changes_the_rows(component: Any) -> None:
    with pytest.raises(AssertionError, match=r"evaluated the model on 12 rows for a batch of 6"):
        check_conditioning(component, schedule=None)


def test_conditioned_view_names_its_consumer() -> None:
    view = Conditioned(
        KernelScoreModel(eight_gaussians(), None, conditional=True),
        Condition(torch.zeros(3, dtype=torch.long)),
        consumer="the sampler X",
    )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="the sampler X evaluated the model on 2 rows for a batch of 3"):
        view(torch.zeros(2, 2), torch.ones(2))


# -- end to end -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-conditional NCSN on eight_gaussians: 400 steps (about 5 s)."""
    root = tmp_path_factory.mktemp("conditional")
    raw = small_config(
        model={"classes": 8, "hidden": 64},
        data={"num_train": 5000},
        train={"steps": 400, "batch_size": 256, "checkpoint_every": 400, "log_every": 100},
        sampler={"steps_per_level": 20},
    )
    from scorekit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(root / "c.toml", raw)), "--run-dir", str(root / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    return root / "run"


def test_conditional_run_samples_the_requested_class(conditional_run: Path) -> None:
    import scorekit

    run = scorekit.load(conditional_run)
    density = run.density
    labels = torch.arange(400) % 8
    x = run.sample(400, seed=0, label=labels)
    assert float((density.assign(x) == labels).float().mean()) >= 0.95
    # No label: classes drawn from the training frequencies, so the mixture's own weights (1/8 each).
    weights = density.mode_weights(run.sample(2000, seed=1))
    assert float((weights - 1 / 8).abs().max()) < 0.04  # 6 standard errors of a 2000-draw share
    # The conditional score at σ = 1 points to the label's mode, not to the nearest one.
    score, _ = run.score([4.0, 0.0], 1.0, label=2)
    assert float(score @ torch.tensor([-1.0, 1.0]) / math.sqrt(2) / score.norm()) > 0.9


def test_conditional_eval_measures_p_x_given_y(conditional_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run_cli(["eval", conditional_run, "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["conditioned_on"] == "held-out labels"
    # Against component y's score, not the mixture's: after 400 steps the net is close to it at middle σ
    # (measured 0.015-0.025 for σ in [0.8, 3]; the fitted Gaussian's 0.29-0.90).
    middle = [row for row in result["fisher"] if 0.8 <= row["sigma"] <= 3.0]
    assert len(middle) == 3 and all(row["relative_fisher"] < 0.05 for row in middle)


def test_label_errors_are_one_line(conditional_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "x.npy"
    code, _, err = run_cli(["sample", conditional_run, "-n", "5", "--label", "8", "-o", out_file], capsys)
    assert code == 2 and "label 8 is not a trained class" in err and not out_file.exists()
    raw = small_config(model={"classes": 4}, train={"steps": 1})
    code, _, err = run_cli(["train", write_toml(tmp_path / "a.toml", raw), "--run-dir", tmp_path / "a"], capsys)
    assert code == 2 and "set model.classes = 8 @ $.model.classes" in err and not (tmp_path / "a").exists()
    raw = small_config(model={"classes": 4}, data={"kind": "two_moons"}, train={"steps": 1})
    raw["data"] = {"kind": "two_moons"}
    code, _, err = run_cli(["train", write_toml(tmp_path / "b.toml", raw), "--run-dir", tmp_path / "b"], capsys)
    assert code == 2 and "'two_moons' has no labels" in err


def test_label_on_an_unconditional_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scorekit.cli import main

    raw = small_config(train={"steps": 2, "checkpoint_every": 2})
    with pytest.raises(SystemExit):
        main(["train", str(write_toml(tmp_path / "u.toml", raw)), "--run-dir", str(tmp_path / "u"), "--no-pictures"])
    code, _, err = run_cli(["sample", tmp_path / "u", "-n", "5", "--label", "1", "-o", tmp_path / "x.npy"], capsys)
    assert code == 2 and "needs a class-conditional model" in err and len(err.strip().splitlines()) == 1


# -- classifier-free guidance ---------------------------------------------------------------------
def test_guided_view_is_one_batched_pass_of_the_formula() -> None:
    from scorekit.condition import Guided

    class Sigma:
        def kernel(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.ones_like(t), t

    density = eight_gaussians()
    model = KernelScoreModel(density, Sigma(), conditional=True)  # type: ignore[arg-type]
    calls = []
    model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    x = torch.randn(6, 2, dtype=torch.float64) * 3
    t = torch.full((6,), 0.8, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    for w in (0.0, 1.5):
        calls.clear()
        guided = Guided(model, w, Condition(labels))(x, t)
        assert calls == [12]  # one forward pass on the doubled batch
        conditional = model(x, t, condition=Condition(labels))
        unconditional = density.score(x, sigma=0.8)
        assert torch.allclose(guided, (1 + w) * conditional - w * unconditional)


@pytest.fixture(scope="module")
def guided_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-conditional NCSN trained with label dropout 0.2: 400 steps (about 5 s)."""
    root = tmp_path_factory.mktemp("guided")
    raw = small_config(
        model={"classes": 8, "hidden": 64},
        data={"num_train": 5000},
        train={"steps": 400, "batch_size": 256, "checkpoint_every": 400, "log_every": 100, "label_dropout": 0.2},
        sampler={"steps_per_level": 20},
    )
    from scorekit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(write_toml(root / "c.toml", raw)), "--run-dir", str(root / "run"), "--no-pictures"])
    assert exit_info.value.code == 0
    return root / "run"


def test_label_dropout_learns_the_unconditional_score_and_guidance_uses_it(
    guided_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import scorekit

    run = scorekit.load(guided_run)
    density = run.density
    # The null label alone: the whole mixture (1/8 per mode, 6 standard errors of 2,000 draws: 0.044).
    unconditional = run.sample(2000, seed=1)  # each sample's class drawn with its training frequency
    assert float((density.mode_weights(unconditional) - 1 / 8).abs().max()) < 0.044
    model, _ = run.trained_model()
    schedule = run.schedule
    null_draw = sample_in_chunks(
        run.sampler,
        model,
        2000,
        (2,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(2),
        device=torch.device("cpu"),
        chunk_size=2000,
        condition=Condition(torch.full((2000,), NO_LABEL)),
    )
    assert float((density.mode_weights(null_draw) - 1 / 8).abs().max()) < 0.044
    # The same through the Python API.
    null_api = run.sample(2000, seed=2, unconditional=True)
    assert float((density.mode_weights(null_api) - 1 / 8).abs().max()) < 0.044
    with pytest.raises(UserError, match="give a label or ask for unconditional samples, not both"):
        run.sample(5, label=1, unconditional=True)
    labels = torch.arange(400) % 8
    for w in (0.0, 2.0):
        x = run.sample(400, seed=0, label=labels, guidance=w)
        assert float((density.assign(x) == labels).float().mean()) >= 0.95, w
    code, _, err = run_cli(
        ["sample", guided_run, "-n", "8", "--label", "2", "--guidance", "2", "-o", tmp_path / "g.npy"], capsys
    )
    assert code == 0, err
    # A class-by-guidance picture: every class, three scales; a .npy output is refused for it.
    picture = tmp_path / "grid.png"
    code, out, err = run_cli(
        ["sample", guided_run, "-n", "20", "--label", "all", "--guidance", "0,1,3", "-o", picture], capsys
    )
    assert code == 0 and picture.stat().st_size > 0 and "160 samples × 3 guidance scales" in out, err
    code, _, err = run_cli(["sample", guided_run, "-n", "5", "--label", "1,2", "-o", tmp_path / "x.npy"], capsys)
    assert code == 2 and "give a .png output" in err


def test_class_grid_picture_of_images(tmp_path: Path) -> None:
    from scorekit.plotting import plot_class_grid

    labels = torch.tensor([0, 1, 2] * 4)
    draws = [torch.rand(12, 1, 8, 8) * 2 - 1 for _ in range(2)]
    plot_class_grid(draws, labels, [0.0, 2.0], tmp_path / "g.png", title="t")
    from PIL import Image

    with Image.open(tmp_path / "g.png") as picture:
        width, height = picture.size
    assert width > 100 and height > 100


def test_guidance_errors_are_one_line(
    conditional_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g.npy"
    for args, message in [
        (["--label", "2", "--guidance", "2"], "never learned: train with train.label_dropout > 0"),
        (["--guidance", "2"], "guidance needs a label"),
        (["--label", "2", "--guidance", "-1"], r"guidance must be a number in \[0, 1000\]"),
    ]:
        code, _, err = run_cli(["sample", conditional_run, "-n", "4", "-o", out, *args], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err
        assert not out.exists()
    import scorekit

    with pytest.raises(UserError, match="unconditional samples needs the unconditional score, which this run never"):
        scorekit.load(conditional_run).sample(4, unconditional=True)


def test_image_folders_are_labelled_by_subfolder(tmp_path: Path) -> None:
    from PIL import Image

    from scorekit.data.sources import images

    for name, level, count in [("a_dark", 20, 5), ("b_bright", 230, 7)]:
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((6, 6), level + i, dtype=np.uint8)).save(tmp_path / "pics" / name / f"{i}.png")
    (tmp_path / "pics" / ".hidden").mkdir()
    config = configs.ImageDataConfig(path=str(tmp_path / "pics"), labels="folders", heldout_fraction=0.25)
    bundle = prepare(images(config))
    assert bundle.num_classes == 2 and bundle.label_counts() is not None
    labels = torch.cat([bundle.train_labels, bundle.heldout_labels])  # type: ignore[list-item]
    pixels = torch.cat([bundle.train, bundle.heldout]).flatten(1).mean(1)
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 7
    assert bool((pixels[labels == 0] < 0).all()) and bool((pixels[labels == 1] > 0).all())  # rows keep labels
    (tmp_path / "pics" / "c_empty").mkdir()
    with pytest.raises(DataError, match="c_empty: the class folder holds no image files"):
        prepare(images(config))
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((6, 6), dtype=np.uint8)).save(flat / "x.png")
    with pytest.raises(DataError, match="holds no subfolders"):
        prepare(images(configs.ImageDataConfig(path=str(flat), labels="folders")))
