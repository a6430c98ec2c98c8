"""Samplers on a trained digits run, judged by a classifier: quality per network evaluation.

Issue 16, item 3b for digits. One trained run (``ddpm_digits`` by default: ``--run-dir``), every
sampler of the table drawing ``--num`` samples from the same seed; the judge of ``ddpm_digits.py``
(an MLP classifier trained on the run's own training split) gives the mean confidence, the class
entropy (against log 10) and the Fréchet distance in its hidden features against the held-out
digits, with the real-vs-held-out floor beside it. Time per call is wall time on this machine.
Every sampler clamps x̂₀ to [−1, 1] as the preset's ancestral sampler does (``clip_x0 = 1``).

Run: python benchmarks/sampler_nfe_digits.py --run-dir RUN [--num 500]
Writes benchmarks/results/sampler_nfe_digits_<run name>.json. An EDM run (its sampler karras_heun) gets
the σ-space table (EDM_SAMPLERS), unclamped as EDM samples.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ddpm_digits import features, frechet, judge, labelled_split

from scorekit.engine.run import load

ROOT = Path(__file__).resolve().parents[1]

#: (name, overrides of the run's sampler).
SAMPLERS: list[tuple[str, list[str]]] = [
    ("ddpm ancestral, 1000 steps (the preset's)", []),
    ("ddim, 50 steps", ["sampler.kind=ddim", "sampler.steps=50", "sampler.clip_x0=1.0"]),
    ("ddim, 20 steps", ["sampler.kind=ddim", "sampler.steps=20", "sampler.clip_x0=1.0"]),
    (
        "dpmpp 2M, 20 steps (levels)",
        ["sampler.kind=dpmpp", "sampler.steps=19", "sampler.grid=levels", "sampler.clip_x0=1.0"],
    ),
    (
        "dpmpp 2M, 50 steps (levels)",
        ["sampler.kind=dpmpp", "sampler.steps=49", "sampler.grid=levels", "sampler.clip_x0=1.0"],
    ),
    (
        "dpmpp 2M, 10 steps (levels)",
        ["sampler.kind=dpmpp", "sampler.steps=9", "sampler.grid=levels", "sampler.clip_x0=1.0"],
    ),
    ("dpmpp 2M, 20 steps (levels), x̂₀ not clamped", ["sampler.kind=dpmpp", "sampler.steps=19", "sampler.grid=levels"]),
    (
        "unipc 2, 10 steps (levels)",
        ["sampler.kind=unipc", "sampler.steps=9", "sampler.grid=levels", "sampler.clip_x0=1.0"],
    ),
    ("ddim, 10 steps", ["sampler.kind=ddim", "sampler.steps=10", "sampler.clip_x0=1.0"]),
    (
        "unipc 2, 20 steps (levels)",
        ["sampler.kind=unipc", "sampler.steps=19", "sampler.grid=levels", "sampler.clip_x0=1.0"],
    ),
    ("karras_heun, 17 steps", ["sampler.kind=karras_heun", "sampler.steps=17", "sampler.clip_x0=1.0"]),
    ("karras_euler, 50 steps", ["sampler.kind=karras_euler", "sampler.steps=49", "sampler.clip_x0=1.0"]),
]

#: The same for an EDM run (``edm_digits``: σ from 80 to 0.002, its own Heun in 17 steps).
EDM_SAMPLERS: list[tuple[str, list[str]]] = [
    ("karras_heun, 17 steps (the preset's)", []),
    ("karras_heun, 9 steps", ["sampler.steps=9"]),
    ("karras_heun, 5 steps", ["sampler.steps=5"]),
    ("dpmpp 2M, 20 steps (karras)", ["sampler.kind=dpmpp", "sampler.steps=19", "sampler.grid=karras"]),
    ("dpmpp 2M, 10 steps (karras)", ["sampler.kind=dpmpp", "sampler.steps=9", "sampler.grid=karras"]),
    ("unipc 2, 10 steps (karras)", ["sampler.kind=unipc", "sampler.steps=9", "sampler.grid=karras"]),
    ("karras_euler, 50 steps", ["sampler.kind=karras_euler", "sampler.steps=49"]),
    ("karras_stochastic, 17 steps", ["sampler.kind=karras_stochastic", "sampler.steps=17"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    base = load(args.run_dir)
    train, train_labels, heldout, _ = labelled_split(base)
    classifier = judge(train, train_labels)
    heldout_features = features(classifier, heldout)
    reference = train[np.random.default_rng(0).permutation(len(train))[: args.num]]
    floor = frechet(features(classifier, reference), heldout_features)
    rows: list[dict[str, Any]] = []
    print(f"real vs held-out Fréchet (floor): {floor:.2f}", flush=True)
    table = EDM_SAMPLERS if base.config.sampler is not None and base.config.sampler.kind == "karras_heun" else SAMPLERS
    for name, overrides in table:
        run = load(args.run_dir, overrides=overrides)
        run.progress = False
        start = time.perf_counter()
        x = run.sample(args.num, seed=0)
        seconds = time.perf_counter() - start
        flat = x.reshape(len(x), -1).clamp(-1, 1).numpy()
        probs = classifier.predict_proba(flat)
        histogram = np.bincount(probs.argmax(1), minlength=10) / len(flat)
        entropy = float(-(histogram[histogram > 0] * np.log(histogram[histogram > 0])).sum())
        row = {
            "sampler": name,
            "nfe": run.last_sampling.nfe if run.last_sampling else None,
            "confidence": float(probs.max(1).mean()),
            "class_entropy_over_log10": entropy / math.log(10),
            "frechet": frechet(features(classifier, flat), heldout_features),
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{name:44s} {row['nfe']:>5} NFE  confidence {row['confidence']:.3f}  entropy/log10 "
            f"{row['class_entropy_over_log10']:.3f}  Fréchet {row['frechet']:.2f}  {seconds:.0f} s",
            flush=True,
        )
    out = ROOT / "benchmarks" / "results" / f"sampler_nfe_digits_{args.run_dir.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"run": str(args.run_dir), "num": args.num, "floor": floor, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
