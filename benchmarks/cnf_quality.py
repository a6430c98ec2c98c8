"""CNF quality: the ``cnf`` preset's held-out log-likelihood against the true density's, and its training time.

What it measures
    For each training seed: the ``cnf`` preset (cnf_mlp 3 × 64 on eight_gaussians, 4000 steps at
    batch 256, RK4 with 8 steps and one fixed Rademacher probe per solve in training) built through
    the Run API as ``scorekit train cnf`` builds it, on the CPU with ``torch.set_num_threads``.
    ``Run.train()`` is timed on its own (data generation excluded). Then ``evaluate(run)`` (what
    ``scorekit eval`` runs): the model's mean log-density over 2,000 held-out points (dopri5 at
    rtol = atol = 1e-5 with the exact trace, EMA weights), the true mixture's mean log-density on the
    same points, their gap, the mode weights of 10,000 samples and the MMD² to held-out data.

Target (issue 5): gap ≤ 0.10 nats with training ≤ 15 minutes on 2 cores.

Run ``python benchmarks/cnf_quality.py`` (about 3 minutes per seed on 2 idle cores); ``--seeds 0 1 2``
repeats over training seeds. Writes ``benchmarks/results/cnf_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import torch
from _presets import train_and_evaluate

RESULTS = Path(__file__).resolve().parent / "results"
GAP_TARGET, TIME_TARGET = 0.10, 15 * 60.0


def one_seed(seed: int) -> dict[str, Any]:
    overrides = [f"train.seed={seed}", "eval.num_points=2000", "eval.num_samples=10000"]
    result, seconds, eval_seconds = train_and_evaluate("cnf", overrides)
    return {
        "seed": seed,
        "train_seconds": seconds,
        "eval_seconds": eval_seconds,
        "heldout_log_likelihood": result["heldout_log_likelihood"],
        "true_log_likelihood": result["true_log_likelihood"],
        "gap": result["log_likelihood_gap"],
        "mode_weight_max_error": result["mode_weight_max_error"],
        "mmd": result["mmd"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2: the target's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    runs = []
    for seed in args.seeds:
        runs.append(one_seed(seed))
        r = runs[-1]
        print(
            f"seed {seed}: trained in {r['train_seconds']:.0f} s; held-out log-likelihood "
            f"{r['heldout_log_likelihood']:.4f} vs true {r['true_log_likelihood']:.4f} (gap {r['gap']:.4f} nats); "
            f"mode-weight error {r['mode_weight_max_error']:.4f}; MMD² {r['mmd']:.2e}; eval {r['eval_seconds']:.0f} s"
        )
    worst_gap = max(r["gap"] for r in runs)
    worst_time = max(r["train_seconds"] for r in runs)
    verdict = "PASS" if worst_gap <= GAP_TARGET and worst_time <= TIME_TARGET else "FAIL"
    print(
        f"gap median {statistics.median(r['gap'] for r in runs):.4f}, worst {worst_gap:.4f} (≤ {GAP_TARGET}); "
        f"training worst {worst_time:.0f} s (≤ {TIME_TARGET:.0f} s): {verdict}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cnf_quality.json").write_text(json.dumps({"threads": args.threads, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
