"""DDPM on 8×8 digits: training time, and samples judged by a classifier trained on the real digits.

What it measures
    1. Training: the ``ddpm_digits`` preset (an ε-predicting UNet on scikit-learn's 1,797 digits in
       [−1, 1], cosine schedule, T = 1000) through the Run API as ``scorekit train ddpm_digits`` builds
       it, on the CPU with ``torch.set_num_threads``; ``Run.train()`` timed on its own. ``--run-dir``
       evaluates an existing run instead (no training, no time).
    2. Samples: ``--num`` images from the run's sampler (ancestral, 1000 steps, EMA weights) with
       seed 0, timed.
    3. A judge: scikit-learn's MLPClassifier (one hidden layer of 256 ReLU units, adam, seed 0)
       trained on the run's own training split of the real digits (flattened, in [−1, 1]); its
       accuracy and mean confidence on the held-out split are the real-data reference. On the
       samples: mean confidence (max class probability), the class histogram and its entropy
       against log 10.
    4. Fréchet distance in the judge's feature space (its hidden layer), ‖μ₁ − μ₂‖² +
       tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½): samples against the held-out digits, and beside it the same
       figure for as many real training digits against the held-out digits (real vs real, the
       floor set by the held-out split's size).

Targets (issue 6): training ≤ 20 minutes on 2 cores; mean confidence ≥ 0.9; class entropy
≥ 0.95·log 10.

Run ``python benchmarks/ddpm_digits.py`` (about 15 minutes on 2 idle cores); writes
``benchmarks/results/ddpm_digits.json`` and ``benchmarks/results/ddpm_digits_samples.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _presets import preset_run, timed_train

from scorekit._registry import load_registry
from scorekit.config import load_config, read_toml_file
from scorekit.data.images import load_digits
from scorekit.engine.run import CONFIG_FILE, Run

RESULTS = Path(__file__).resolve().parent / "results"
CONFIDENCE_TARGET, ENTROPY_TARGET, TIME_TARGET = 0.9, 0.95 * math.log(10), 20 * 60.0


def judge(train: np.ndarray, labels: np.ndarray) -> Any:
    from sklearn.neural_network import MLPClassifier

    classifier = MLPClassifier(hidden_layer_sizes=(256,), max_iter=600, random_state=0)
    return classifier.fit(train, labels)


def features(classifier: Any, x: np.ndarray) -> np.ndarray:
    """The classifier's hidden layer: relu(x·W₁ + b₁)."""
    return np.maximum(x @ classifier.coefs_[0] + classifier.intercepts_[0], 0.0)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        # Dead ReLU units make both covariances singular; sqrtm warns but the product's root is fine.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def labelled_split(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The run's train / held-out digits (flattened) with their labels, matched back to sklearn's."""
    from sklearn.datasets import load_digits as sklearn_digits

    images = load_digits().reshape(-1, 64)  # the data set's own loader: sklearn's order, scaled to [−1, 1]
    lookup = {row.tobytes(): label for row, label in zip(images, sklearn_digits().target, strict=True)}

    def labels(x: torch.Tensor) -> np.ndarray:
        return np.array([lookup[row.tobytes()] for row in x.reshape(len(x), -1).numpy().astype(np.float32)])

    train = run.data.standardizer.inverse(run.data.train).reshape(len(run.data.train), -1)
    heldout = run.data.standardizer.inverse(run.data.heldout).reshape(len(run.data.heldout), -1)
    return train.numpy(), labels(train), heldout.numpy(), labels(heldout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="evaluate this trained run instead of training the preset")
    parser.add_argument("--num", type=int, default=1000, help="samples to judge (default 1000)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2: the target's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override for the preset")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    registry = load_registry()
    result: dict[str, Any] = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        if args.run_dir is not None:
            config = load_config(read_toml_file(args.run_dir / CONFIG_FILE), registry)
            run = Run(config, registry, args.run_dir)
            result["train_seconds"] = None
        else:
            run = preset_run("ddpm_digits", args.overrides, Path(tmp) / "run")
            result["train_seconds"] = timed_train(run)
            print(f"trained in {result['train_seconds']:.0f} s")
        start = time.perf_counter()
        samples = run.sample(args.num, seed=0)
        result["sample_seconds"] = time.perf_counter() - start
        train, train_labels, heldout, heldout_labels = labelled_split(run)
    flat = samples.reshape(len(samples), -1).clamp(-1, 1).numpy()
    classifier = judge(train, train_labels)
    real_probs = classifier.predict_proba(heldout)
    result["judge_heldout_accuracy"] = float((real_probs.argmax(1) == heldout_labels).mean())
    result["judge_heldout_confidence"] = float(real_probs.max(1).mean())
    probs = classifier.predict_proba(flat)
    histogram = np.bincount(probs.argmax(1), minlength=10) / len(flat)
    result["confidence"] = float(probs.max(1).mean())
    result["class_histogram"] = histogram.tolist()
    result["class_entropy"] = float(-(histogram[histogram > 0] * np.log(histogram[histogram > 0])).sum())
    reference = train[np.random.default_rng(0).permutation(len(train))[: len(flat)]]
    result["frechet_samples_vs_heldout"] = frechet(features(classifier, flat), features(classifier, heldout))
    result["frechet_real_vs_heldout"] = frechet(features(classifier, reference), features(classifier, heldout))
    result["frechet_sizes"] = [len(flat), len(reference), len(heldout)]
    time_ok = result["train_seconds"] is None or result["train_seconds"] <= TIME_TARGET
    passed = result["confidence"] >= CONFIDENCE_TARGET and result["class_entropy"] >= ENTROPY_TARGET and time_ok
    print(
        f"judge on real held-out digits: accuracy {result['judge_heldout_accuracy']:.3f}, "
        f"confidence {result['judge_heldout_confidence']:.3f}\n"
        f"{args.num} samples in {result['sample_seconds']:.0f} s: confidence {result['confidence']:.3f} "
        f"(≥ {CONFIDENCE_TARGET}), class entropy {result['class_entropy']:.4f} (≥ {ENTROPY_TARGET:.4f} = 0.95·log 10)\n"
        f"class histogram {np.round(histogram, 3).tolist()}\n"
        f"Fréchet distance (judge features) samples vs held-out {result['frechet_samples_vs_heldout']:.2f}; "
        f"real vs held-out {result['frechet_real_vs_heldout']:.2f} (sizes {result['frechet_sizes']})\n"
        f"{'PASS' if passed else 'FAIL'}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ddpm_digits.json").write_text(json.dumps(result, indent=2))
    from scorekit.plotting import plot_image_grid

    plot_image_grid(samples[:64], RESULTS / "ddpm_digits_samples.png", title="ddpm_digits: 64 samples")


if __name__ == "__main__":
    main()
