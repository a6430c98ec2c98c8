"""Scores between the trained levels: NCSN's σ-levels training against continuous σ, on the default preset.

What it measures
    The default preset (``ncsn``: NCSNMLP, continuous in σ, on eight_gaussians; geometric σ from 8 to
    0.05 in 10 levels; 8000 steps) is trained through the Run API twice from the same seed: once
    drawing σ only from the 10 levels (``schedule.training = "levels"``, Song & Ermon 2019) and once
    with the preset's default, log σ uniform over [log σ_min, log σ_max] with the half level step at
    each end drawn twice as often (``"continuous"``). For each, the relative
    Fisher divergence E‖s_θ(x̃, σ) − ∇log p_σ(x̃)‖² / E‖∇log p_σ(x̃)‖², x̃ = x + σε over 10,000
    held-out x, against the mixture's exact noisy score, at every trained level, at the geometric
    midpoint between each pair of neighbouring levels, and at σ = 0.3 and 0.5 (the values a user
    asked ``scorekit score --sigma`` for). Then ``evaluate(run)`` on 10,000 annealed-Langevin samples:
    mode weights and MMD² (the sampler uses only the 10 levels), so the cost of the continuous
    training at the levels themselves is visible.

Target (issue 13)
    relative Fisher at σ = 0.3 and 0.5 within 2× of the neighbouring trained levels' (the larger of
    the two), for the training the preset uses.

Run ``python benchmarks/score_between_levels.py`` (two trainings and evaluations, about 3 minutes on 2
idle cores). Writes ``benchmarks/results/score_between_levels.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from scorekit._registry import load_registry
from scorekit.config import apply_overrides, load_config, parse_toml
from scorekit.engine.evaluate import evaluate
from scorekit.engine.run import Run
from scorekit.evaluation import kernel_score, relative_fisher_divergence

NAME = "score_between_levels"
RESULTS = Path(__file__).resolve().parent / "results"
ASKED = (0.3, 0.5)


def fisher_at(run: Run, sigmas: list[float], generator: torch.Generator) -> list[float]:
    """Relative Fisher divergence of the trained score at each data-space σ (the preset does not standardize)."""
    model, standardizer = run.trained_model()
    assert all(float(c) == 1.0 for c in standardizer.scale), "the preset's data are not standardized"
    x0 = run.data.heldout.double()
    values = []
    for sigma in sigmas:
        x = x0 + sigma * torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        with torch.no_grad():
            predicted = model(x.float(), torch.full((x.shape[0],), sigma)).double()
        values.append(relative_fisher_divergence(predicted, kernel_score(run.density, x, 1.0, sigma)))
    return values


def one_training(training: str, seed: int) -> dict[str, Any]:
    registry = load_registry()
    raw = parse_toml(registry.preset("ncsn").toml_text, "preset 'ncsn'")
    overrides = [f"schedule.training='{training}'", f"train.seed={seed}", "train.progress=false"]
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(load_config(apply_overrides(raw, overrides), registry), registry, Path(tmp) / "run")
        run.train()
        assert run.schedule is not None
        levels = [float(v) for v in run.schedule.levels()]
        midpoints = [math.sqrt(a * b) for a, b in itertools.pairwise(levels)]
        generator = torch.Generator().manual_seed(7)
        result = {
            "training": training,
            "levels": dict(zip(levels, fisher_at(run, levels, generator), strict=True)),
            "midpoints": dict(zip(midpoints, fisher_at(run, midpoints, generator), strict=True)),
            "asked": dict(zip(ASKED, fisher_at(run, list(ASKED), generator), strict=True)),
        }
        metrics = evaluate(run)
    result["mode_weight_max_error"] = metrics["mode_weight_max_error"]
    result["mmd"] = metrics["mmd"]
    neighbours = {}
    for sigma in ASKED:
        below = max(v for v in levels if v <= sigma)
        above = min(v for v in levels if v >= sigma)
        worst = max(result["levels"][below], result["levels"][above])
        ratio = result["asked"][sigma] / worst
        neighbours[sigma] = {"levels": [above, below], "neighbour_fisher": worst, "ratio": ratio}
    result["neighbours"] = neighbours
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    results = [one_training(training, args.seed) for training in ("levels", "continuous")]
    for r in results:
        quality = f"mode-weight max error {r['mode_weight_max_error']:.4f}, MMD² {r['mmd']:.2e}"
        print(f"\ntraining = {r['training']}: {quality}")
        print(f"  {'σ':>8}  relative Fisher")
        rows = sorted([*r["levels"].items(), *((s, v) for s, v in r["midpoints"].items())], reverse=True)
        for sigma, value in rows:
            mark = "level" if sigma in r["levels"] else "between"
            print(f"  {sigma:8.4f}  {value:.4f}  {mark}")
        for sigma, row in r["neighbours"].items():
            verdict = "PASS" if row["ratio"] <= 2.0 else "FAIL"
            print(
                f"  σ = {sigma}: {r['asked'][sigma]:.4f}, neighbouring levels "
                f"{row['levels'][0]:.3f}/{row['levels'][1]:.3f}"
                f" at most {row['neighbour_fisher']:.4f}: ratio {row['ratio']:.2f} (target ≤ 2) {verdict}"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{NAME}.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
