"""Reverse-time samplers and the probability-flow likelihood on the exact score of eight_gaussians.

What it measures
    The data are eight_gaussians as a run sees them (scalar-standardized: radius 4/2.844, std
    0.3/2.844). ``KernelScoreModel`` gives the exact score ∇log p_t of their marginals under each
    schedule's kernel, so what is left is the error of the samplers and of the likelihood's solver
    and prior. For the VP, sub-VP and VE SDEs (defaults of the ``vp``, ``subvp``, ``ve`` schedules,
    VE with σ_max = 4 as in the ``vesde`` preset) and NCSN's geometric σ schedule (σ 8 → 0.05 in data
    units, the ``ncsn`` preset's), on 2,000 fresh points:

    - the probability-flow log-likelihood (dopri5 at rtol = atol = 1e-5, exact trace, float32 as
      ``scorekit logprob`` runs) against the true log-density of the clean data, log p₀, and of the
      marginal at the schedule's smallest time, log p_eps: mean gap, mean |gap|, largest |gap|;
    - 10,000 samples of the reverse SDE (Euler–Maruyama, 1,000 steps, Tweedie's denoiser at the
      end), of the same with one Langevin corrector step per time (snr 0.16), and of the
      probability-flow ODE: mode weights, their largest deviation from 1/8, and seconds.

Targets (issue 7): mean log-likelihood within 0.01 nats of the true log-density; reverse-SDE mode
weights within ±0.015 of 1/8.

Run ``python benchmarks/sde_analytic.py`` (about a minute on 2 cores); writes
``benchmarks/results/sde_analytic.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from scorekit import load_registry
from scorekit.config import structure_as
from scorekit.data.mixture import GaussianMixture, eight_gaussians
from scorekit.evaluation import KernelScoreModel, kernel_log_prob, mode_weight_error

RESULTS = Path(__file__).resolve().parent / "results"
LOG_LIKELIHOOD_TARGET = 0.01
WEIGHT_TARGET = 0.015
# eight_gaussians' overall standard deviation: √(4²/2 + 0.3²), the scalar standardization's scale.
SCALE = math.sqrt(8 + 0.09)
SCHEDULES: dict[str, dict[str, Any]] = {
    "vp": {"kind": "vp"},
    "subvp": {"kind": "subvp"},
    "ve": {"kind": "ve", "sigma_max": 4.0},
    "ncsn geometric": {"kind": "geometric", "sigma_max": 8.0 / SCALE, "sigma_min": 0.05 / SCALE, "num_levels": 10},
}
SAMPLERS: dict[str, dict[str, Any]] = {
    "reverse SDE (EM)": {"kind": "reverse_sde"},
    "reverse SDE + corrector": {"kind": "reverse_sde", "corrector_steps": 1},
    "probability flow (dopri5)": {"kind": "probability_flow"},
}


def standardized_mixture() -> GaussianMixture:
    raw = eight_gaussians()
    return GaussianMixture(raw.means / SCALE, raw.std / SCALE)


def one(
    name: str, table: dict[str, Any], density: GaussianMixture, num_points: int, num_samples: int
) -> dict[str, Any]:
    registry = load_registry()
    schedule = structure_as(table, "schedule", "$.schedule", registry).build()
    model = KernelScoreModel(density, schedule)
    likelihood = structure_as({"kind": "probability_flow"}, "likelihood", "$.likelihood", registry).build()
    x = density.sample(num_points, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    log_p = likelihood.log_prob(model, x, schedule=schedule).double()
    seconds = time.perf_counter() - start
    a, s = (float(v) for v in schedule.kernel(schedule.levels()[-1:].double()))
    gap0 = log_p - density.log_prob(x.double())
    gap_eps = log_p - kernel_log_prob(density, x.double(), a, s)
    row: dict[str, Any] = {
        "schedule": name,
        "likelihood_seconds": seconds,
        "likelihood_nfe": likelihood.solver.nfe,
        "mean_gap_p0": float(gap0.mean()),
        "mean_abs_gap_p0": float(gap0.abs().mean()),
        "max_abs_gap_p0": float(gap0.abs().max()),
        "mean_gap_peps": float(gap_eps.mean()),
        "max_abs_gap_peps": float(gap_eps.abs().max()),
        "samplers": {},
    }
    for label, sampler_table in SAMPLERS.items():
        sampler = structure_as(sampler_table, "sampler", "$.sampler", registry).build()
        start = time.perf_counter()
        with torch.no_grad():
            samples = sampler.sample(
                model, (num_samples, 2), schedule=schedule, generator=torch.Generator().manual_seed(0)
            )
        weights = density.mode_weights(samples)
        row["samplers"][label] = {
            "seconds": time.perf_counter() - start,
            "mode_weights": weights.tolist(),
            "max_error": mode_weight_error(weights, density.weights),
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000, help="points for the likelihood (default 2000)")
    parser.add_argument("--samples", type=int, default=10000, help="samples per sampler (default 10000)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    density = standardized_mixture()
    rows = []
    passed = True
    for name, table in SCHEDULES.items():
        row = one(name, table, density, args.points, args.samples)
        rows.append(row)
        ok = abs(row["mean_gap_p0"]) <= LOG_LIKELIHOOD_TARGET
        passed &= ok
        print(
            f"{name:>15}: log-likelihood − log p₀ mean {row['mean_gap_p0']:+.5f} "
            f"(|·| mean {row['mean_abs_gap_p0']:.5f}, "
            f"max {row['max_abs_gap_p0']:.4f}); − log p_eps mean {row['mean_gap_peps']:+.5f} "
            f"(max {row['max_abs_gap_peps']:.4f}); {row['likelihood_nfe']} evaluations, "
            f"{row['likelihood_seconds']:.1f} s  {'PASS' if ok else 'FAIL'}"
        )
        for label, result in row["samplers"].items():
            ok = result["max_error"] <= WEIGHT_TARGET
            if label.startswith("reverse SDE"):
                passed &= ok
            print(
                f"{'':>17}{label:<27} mode-weight error {result['max_error']:.4f} "
                f"({result['seconds']:.1f} s)  {'PASS' if ok else 'FAIL'}"
            )
    print("all targets:", "PASS" if passed else "FAIL")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sde_analytic.json").write_text(json.dumps({"threads": args.threads, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
