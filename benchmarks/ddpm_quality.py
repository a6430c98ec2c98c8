"""DDPM on eight_gaussians against the NCSN preset: mode weights and MMD of 10,000 samples.

What it measures
    For each training seed, the ``ddpm`` preset (ε-predicting time_mlp 3 × 128, linear β over
    T = 1000, ancestral sampling with β̃_t) and the ``ncsn`` preset (ncsn_mlp 3 × 128, geometric σ,
    annealed Langevin), each built through the Run API as ``scorekit train`` builds it, trained, then
    evaluated as ``scorekit eval`` does with 10,000 samples (seed 0): the weight of each of the 8
    modes (samples assigned to the nearest mode) and its largest deviation from 1/8, and the unbiased
    squared MMD to the held-out data. Training and sampling are timed.

Targets (issue 6): every DDPM mode weight within ±0.015 of 1/8; DDPM's MMD² no higher than NCSN's.

Run ``python benchmarks/ddpm_quality.py`` (about 3 minutes per seed on 2 cores; ``--seeds 0 1 2``);
writes ``benchmarks/results/ddpm_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch
from _presets import train_and_evaluate

RESULTS = Path(__file__).resolve().parent / "results"
WEIGHT_TARGET = 0.015


def one(preset: str, seed: int) -> dict[str, Any]:
    result, train_seconds, eval_seconds = train_and_evaluate(preset, [f"train.seed={seed}", "eval.num_samples=10000"])
    return {
        "preset": preset,
        "seed": seed,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "mode_weights": result["mode_weights"],
        "mode_weight_max_error": result["mode_weight_max_error"],
        "mmd": result["mmd"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    rows = []
    for seed in args.seeds:
        for preset in ("ddpm", "ncsn"):
            rows.append(one(preset, seed))
            r = rows[-1]
            print(
                f"{preset:>4} seed {seed}: trained {r['train_seconds']:.0f} s, eval {r['eval_seconds']:.0f} s; "
                f"mode weights {[round(w, 4) for w in r['mode_weights']]} "
                f"(max error {r['mode_weight_max_error']:.4f}); "
                f"MMD² {r['mmd']:.2e}"
            )
        ddpm, ncsn = rows[-2], rows[-1]
        ok = ddpm["mode_weight_max_error"] <= WEIGHT_TARGET and ddpm["mmd"] <= ncsn["mmd"]
        print(f"seed {seed}: {'PASS' if ok else 'FAIL'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ddpm_quality.json").write_text(json.dumps({"threads": args.threads, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
