"""Imputation on exact scores: completions of half the coordinates against the exact conditional.

Issue 17, first target. The data are the Gaussian mixtures of ``sampler_nfe.py`` (2-D eight_gaussians
at unit radius, std 0.075; a 16-D mixture of 8 components, std 0.15), whose noisy scores are exact.
Given the first half of the coordinates y, the conditional is again a mixture with known weights,

    p(x_free ∣ y) = Σ_k w'_k N(μ_k,free, std² I),   w'_k ∝ w_k N(y; μ_k,known, std² I),

so completions are compared with the truth:

- component weights: each completion assigned to its nearest component (``GaussianMixture.assign``),
  the largest |weight − w'_k| over k (target ±0.02);
- MMD² (``scorekit.evaluation.mmd``, unbiased) between the free coordinates of the completions and
  an exact conditional draw of the same size; beside it the noise floor, the mean |MMD²| of five
  pairs of independent exact draws (target: within 2× the floor).

Each figure is the mean over ``--observations`` observations y drawn from p₀ (seed 1), ``--num``
completions each, every row of one observation completed independently. Methods and samplers
(``scorekit.imputation``; the engine's own path, ``sample_in_chunks`` with an ``Observation``):

- on DDPM's linear VP kernel (1,000 levels): ancestral DDPM (1,000 NFE) and DPM-Solver++(2M) on a
  Karras grid (50 NFE), each with ``replace`` (Song et al. 2021, the baseline) and ``guidance``;
- on a geometric VE schedule (σ 3 → 0.01, 30 levels): annealed Langevin, 100 steps per level
  (3,001 NFE), with ``replace`` (Song & Ermon 2019's inpainting) and ``annealed``.

Run: python benchmarks/imputation.py [--num 1000] [--observations 4]
Writes benchmarks/results/imputation.json and docs/img/imputation_2d.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from sampler_nfe import densities

from scorekit._registry import load_registry
from scorekit.data.mixture import GaussianMixture
from scorekit.engine.sampling import sample_in_chunks
from scorekit.evaluation import KernelScoreModel, mmd
from scorekit.imputation import Observation

ROOT = Path(__file__).resolve().parents[1]
WEIGHT_TARGET, MMD_FACTOR = 0.02, 2.0


def conditional(density: GaussianMixture, y: torch.Tensor, known: torch.Tensor) -> GaussianMixture:
    """p(x ∣ x_known = y) as a mixture over all coordinates (the known ones pinned at y by the caller)."""
    log_w = density.weights.log() - 0.5 * ((y[known] - density.means[:, known]) ** 2).sum(1) / density.std**2
    return GaussianMixture(density.means, density.std, torch.softmax(log_w, 0))


def exact_draw(truth: GaussianMixture, y: torch.Tensor, known: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    x = truth.sample(n, torch.Generator().manual_seed(seed), dtype=torch.float64)
    x[:, known] = y[known]
    return x


def build(registry: Any, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


def cells(registry: Any) -> list[tuple[str, str, Any, Any]]:
    """(sampler label, method, sampler, schedule)."""
    vp = build(registry, "schedule", "linear")
    ve = build(registry, "schedule", "geometric", sigma_max=3.0, sigma_min=0.01, num_levels=30)
    ddpm = build(registry, "sampler", "ddpm")
    dpmpp = build(registry, "sampler", "dpmpp", steps=49, grid="karras")
    langevin = build(registry, "sampler", "annealed_langevin", steps_per_level=100)
    return [
        ("ddpm (VP, 1000 NFE)", "replace", ddpm, vp),
        ("ddpm (VP, 1000 NFE)", "guidance", ddpm, vp),
        ("dpmpp 2M (VP, 50 NFE)", "replace", dpmpp, vp),
        ("dpmpp 2M (VP, 50 NFE)", "guidance", dpmpp, vp),
        ("annealed Langevin (VE, 3001 NFE)", "replace", langevin, ve),
        ("annealed Langevin (VE, 3001 NFE)", "annealed", langevin, ve),
    ]


def complete(sampler: Any, schedule: Any, density: GaussianMixture, obs: Observation, seed: int) -> torch.Tensor:
    model = KernelScoreModel(density, schedule)
    return sample_in_chunks(
        sampler,
        model,
        len(obs),
        (density.dim,),
        schedule=schedule,
        generator=torch.Generator().manual_seed(seed),
        device=torch.device("cpu"),
        chunk_size=len(obs),
        dtype=torch.float64,
        observation=obs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=1000, help="completions per observation")
    parser.add_argument("--observations", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry()
    results: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "num": args.num,
        "observations": args.observations,
        "rows": [],
    }
    pictures: dict[str, Any] = {}
    for name, density in densities().items():
        known = torch.zeros(density.dim, dtype=torch.bool)
        known[: density.dim // 2] = True
        ys = density.sample(args.observations, torch.Generator().manual_seed(1), dtype=torch.float64)
        truths = [conditional(density, y, known) for y in ys]
        draws = [exact_draw(t, y, known, args.num, 100 + i) for i, (t, y) in enumerate(zip(truths, ys, strict=True))]
        floor = []
        for i, (truth, y) in enumerate(zip(truths, ys, strict=True)):
            pairs = [
                abs(mmd(exact_draw(truth, y, known, args.num, 1000 * i + j)[:, ~known], draws[i][:, ~known]))
                for j in range(5)
            ]
            floor.append(sum(pairs) / len(pairs))
        for label, method, sampler, schedule in cells(registry):
            weight_errors, mmds, start = [], [], time.perf_counter()
            samples = []
            for i, (truth, y) in enumerate(zip(truths, ys, strict=True)):
                values = y.expand(args.num, -1).clone()
                mask = known.to(torch.float64).expand(args.num, -1).clone()
                variance = float(density.sample(20000, torch.Generator().manual_seed(3), torch.float64).var(0).mean())
                x = complete(sampler, schedule, density, Observation(values, mask, method, variance), seed=10 + i)
                samples.append(x)
                weight_errors.append(float((density.mode_weights(x) - truth.weights).abs().max()))
                mmds.append(mmd(x[:, ~known], draws[i][:, ~known]))
            row = {
                "data": name,
                "sampler": label,
                "method": method,
                "weight_error": sum(weight_errors) / len(weight_errors),
                "weight_error_max": max(weight_errors),
                "mmd2": sum(mmds) / len(mmds),
                "mmd2_floor": sum(floor) / len(floor),
                "seconds": time.perf_counter() - start,
            }
            row["pass"] = row["weight_error_max"] <= WEIGHT_TARGET and row["mmd2"] <= MMD_FACTOR * row["mmd2_floor"]
            results["rows"].append(row)
            print(
                f"{name:20s} {label:34s} {method:9s} weight error mean {row['weight_error']:.3f} "
                f"max {row['weight_error_max']:.3f}  MMD² {row['mmd2']:.2e} (floor {row['mmd2_floor']:.2e})  "
                f"{row['seconds']:.0f} s  {'PASS' if row['pass'] else 'fail'}",
                flush=True,
            )
            if name == "eight_gaussians_2d":
                pictures[f"{label} · {method}"] = (samples, truths, ys)
    out = ROOT / "benchmarks" / "results" / "imputation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    plot(pictures, ROOT / "docs" / "img" / "imputation_2d.png")


def plot(pictures: dict[str, Any], path: Path) -> None:
    """Per observation (columns), the completions' free coordinate per method (rows) against the truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(pictures)
    columns = len(next(iter(pictures.values()))[0])
    fig, axes = plt.subplots(len(names), columns, figsize=(3.2 * columns, 1.9 * len(names)), squeeze=False)
    grid = torch.linspace(-1.4, 1.4, 400, dtype=torch.float64)
    for r, name in enumerate(names):
        samples, truths, ys = pictures[name]
        for c, (x, truth, y) in enumerate(zip(samples, truths, ys, strict=True)):
            ax = axes[r][c]
            ax.hist(x[:, 1].numpy(), bins=80, range=(-1.4, 1.4), density=True, color="tab:blue", alpha=0.6)
            free = GaussianMixture(truth.means[:, 1:], truth.std, truth.weights)
            ax.plot(grid.numpy(), free.log_prob(grid[:, None]).exp().numpy(), color="black", lw=1)
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"x₁ = {float(y[0]):.2f}: p(x₂ ∣ x₁)", fontsize=9)
            if c == 0:
                ax.set_ylabel(name.replace(" · ", "\n"), fontsize=7)
    fig.suptitle("eight_gaussians, exact scores: completions of x₂ (histogram) against the exact conditional (line)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
