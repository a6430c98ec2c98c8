"""NCSN, DDPM, VE-SDE, VP-SDE and CNF on eight_gaussians: held-out NLL, MMD², mode weights, timings.

What it measures
    Each preset (``ncsn``, ``ddpm``, ``vesde``, ``vpsde``, ``cnf``), built through the Run API as
    ``scorekit train`` builds it and trained with the same seed, then:

    - NLL: minus the mean log-density of 2,000 held-out points in data space (nats), through the
      run's [likelihood]: the probability-flow ODE for the score models (dopri5, rtol = atol =
      1e-5, exact trace), the flow itself for the CNF. NCSN gets ``likelihood.kind =
      probability_flow`` added: its geometric σ schedule is the VE SDE in σ time (its network has
      seen only the 10 σ levels in training). DDPM's schedule is discrete, so it has no ODE: "—";
      its continuous limit is the VP-SDE row. The true density's value and the gap are beside it;
    - 10,000 samples by the preset's sampler (timed on their own, with seed 1): the largest
      mode-weight error and the unbiased MMD² to the held-out data (as ``scorekit eval``);
    - the seconds of training.

Targets (issue 7): the VP-SDE's NLL within 0.15 nats of the true density's, and its samples at
least as good as the DDPM preset's (MMD² no higher, every mode weight within ±0.015).

Run ``python benchmarks/sde_comparison.py`` (about 15 minutes on 2 idle cores); writes
``benchmarks/results/sde_comparison.json`` and a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _presets import preset_run, timed_train

from scorekit.evaluation import mmd, mode_weight_error

RESULTS = Path(__file__).resolve().parent / "results"
PRESETS: dict[str, list[str]] = {
    "ncsn": ["likelihood.kind=probability_flow"],
    "ddpm": [],
    "vesde": [],
    "vpsde": [],
    "cnf": [],
}
NLL_TARGET = 0.15
WEIGHT_TARGET = 0.015


def one(preset: str, extra: list[str], seed: int, num_points: int, num_samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        run = preset_run(preset, [f"train.seed={seed}", *extra], Path(tmp) / "run")
        train_seconds = timed_train(run)
        data = run.data
        heldout = data.standardizer.inverse(data.heldout)
        row: dict[str, Any] = {"preset": preset, "seed": seed, "train_seconds": train_seconds}
        start = time.perf_counter()
        samples = run.sample(num_samples, seed=1)
        row["sample_seconds"] = time.perf_counter() - start
        generator = torch.Generator().manual_seed(1)
        row["mmd"] = mmd(samples.flatten(1), heldout.flatten(1), generator=generator)
        weights = run.density.mode_weights(samples.double())
        row["mode_weights"] = weights.tolist()
        row["mode_weight_max_error"] = mode_weight_error(weights, run.density.weights)
        if run.likelihood is not None:
            points = heldout[:num_points]
            start = time.perf_counter()
            row["nll"] = -float(run.log_prob(points).mean())
            row["likelihood_seconds"] = time.perf_counter() - start
            row["true_nll"] = -float(run.density.log_prob(points.double()).mean())
            row["nll_gap"] = row["nll"] - row["true_nll"]
        return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| preset | NLL (nats) | gap to truth | MMD² | max mode-weight error | sampling 10k (s) | training (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        nll = f"{r['nll']:.3f}" if "nll" in r else "—"
        gap = f"{r['nll_gap']:+.3f}" if "nll" in r else "—"
        lines.append(
            f"| {r['preset']} | {nll} | {gap} | {r['mmd']:.2e} | {r['mode_weight_max_error']:.4f} | "
            f"{r['sample_seconds']:.1f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--points", type=int, default=2000, help="held-out points for the NLL (default 2000)")
    parser.add_argument("--samples", type=int, default=10000, help="samples per preset (default 10000)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    rows = []
    for preset in args.presets:
        rows.append(one(preset, PRESETS[preset], args.seed, args.points, args.samples))
        r = rows[-1]
        nll = f"NLL {r['nll']:.4f} (truth {r['true_nll']:.4f}, gap {r['nll_gap']:+.4f}), " if "nll" in r else ""
        print(
            f"{preset:>6}: {nll}MMD² {r['mmd']:.2e}, mode-weight error {r['mode_weight_max_error']:.4f}; "
            f"sampling {r['sample_seconds']:.1f} s, training {r['train_seconds']:.0f} s",
            flush=True,
        )
    by_name = {r["preset"]: r for r in rows}
    if "vpsde" in by_name and "ddpm" in by_name:
        vp, ddpm = by_name["vpsde"], by_name["ddpm"]
        ok = (
            abs(vp["nll_gap"]) <= NLL_TARGET
            and vp["mmd"] <= ddpm["mmd"]
            and vp["mode_weight_max_error"] <= WEIGHT_TARGET
        )
        print(
            f"VP-SDE: NLL gap {vp['nll_gap']:+.4f} (≤ {NLL_TARGET}), MMD² {vp['mmd']:.2e} vs DDPM {ddpm['mmd']:.2e}: "
            f"{'PASS' if ok else 'FAIL'}"
        )
    print(table(rows))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sde_comparison.json").write_text(json.dumps({"threads": args.threads, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
