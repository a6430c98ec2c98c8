"""Score matching at σ = 0 (ISM, SSM, SSM-VR) against single-σ DSM: cost per iteration, memory, accuracy.

What it measures
    For each data set and method (issue 4's table) one training run through the Run API
    (``load_registry`` → ``load_config`` → ``Run.train()``) on the CPU, each in a fresh Python
    subprocess with ``torch.set_num_threads(--threads)``:

    - data sets: N(0, I_d) (``standard_normal``) for d ∈ {2, 16, 64, 256}; ``eight_gaussians`` (8 modes
      on a circle of radius 4, std 0.3, d = 2); and a 16-D mixture (``gaussian_mixture``) with the 8
      means 4·e_k, k = 1..8 (the first 8 axes of R^16, norm 4, pairwise distance 4·√2), std 0.3,
      equal weights. The mixtures are standardized with ``standardize = "scalar"``; N(0, I) is not;
    - methods: ``ism`` (exact trace: d vector–Jacobian products), ``ssm`` and ``ssm_vr`` (1 projection,
      Rademacher), all on ``score_mlp`` (3 × ``--hidden``, default 128, softplus) at σ = 0; ``dsm`` at
      σ = 0.05 in data units (the loss's σ is converted to model units for the standardized mixtures)
      on ``ncsn_mlp`` (3 × ``--hidden``);
    - the same budget for every cell: ``--steps`` iterations (default 2000) at batch 256, Adam lr 5e-3
      with cosine decay, EMA 0.99; ISM at d ≥ 64 gets a smaller budget (``--ism-large-steps``,
      default 200) and is marked ``*`` — its Fisher figure is then not comparable;
    - seconds per iteration: the Trainer logs its rate every 10 steps (``log_every = 10``,
      ``checkpoint_every`` = the run's length so no checkpoint falls inside a window); the figure is
      the median over windows of 1/rate, the first window (warm-up) left out. It includes the
      engine's per-step work (batch indexing, Adam, EMA), as a user's run does;
    - peak memory: the resident-set peak (``VmHWM``; ``ru_maxrss`` where /proc is missing — but
      ru_maxrss survives execve, so it would show the parent's peak) of the cell's subprocess, Python +
      torch + data included, and that peak minus the peak just before training (the data already
      built); torch's CPU allocator is not visible to ``tracemalloc``;
    - relative Fisher divergence E‖s_θ − ∇log p‖² / E‖∇log p‖² on 10,000 held-out points with the EMA
      weights: for ISM/SSM/SSM-VR what ``scorekit eval`` reports (σ = 0); for DSM the learned
      s_θ(·, σ) against the true score of p_σ = p ∗ N(0, σ²I) at σ = 0.05 (the model divides by σ, so
      σ = 0 is not defined for it).

    Separately, in this process: tr ∇ₓs of a ``score_mlp`` of width 256 at d = 1024, batch 128, by the
    ``exact`` and the ``hutchinson`` (1 probe) trace estimators built through the registry, timed
    directly without ``create_graph`` (median of interleaved repeats after a warm-up).

Targets (from issue 4)
    SSM's seconds per iteration at d = 256 within 2× of d = 2, while ISM's grows with d (ISM at
    d = 256 slower than at d = 2 by more than 2×); at d = 256 SSM ≥ 20× faster per iteration than
    ISM; one Hutchinson probe ≥ 100× faster than the exact trace at d = 1024; on eight_gaussians ISM
    and SSM-VR reach relative Fisher divergence ≤ 0.05 at σ = 0.

Run ``python benchmarks/score_matching.py`` (the full table, ~15 minutes on 2 idle cores) or
``--quick`` (d ∈ {2, 16}, 300 iterations: a smoke run of a few minutes; its Fisher figures are
not the targets'). ``--only-timing`` runs the trace-estimator comparison and a short timing run
(``--timing-steps``, default 60 iterations) of every N(0, I) cell, without the Fisher figures.
Writes ``benchmarks/results/score_matching.json`` and ``benchmarks/results/score_matching.png``
(seconds per iteration against d, log-log, one line per method) and prints the table as Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "score_matching"
RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("ism", "ssm", "ssm_vr", "dsm")
DIMS_FULL = (2, 16, 64, 256)
DIMS_QUICK = (2, 16)
DSM_SIGMA = 0.05  # in data units
BATCH = 256
# Chosen on eight_gaussians (d = 2) from {1e-3, 2e-3, 5e-3} at 2000 iterations, for every method
# alike: ISM's relative Fisher divergence was 0.187, 0.089 and 0.011 respectively.
LR = 5e-3
EMA = 0.99
LOG_EVERY = 10
TARGETS = {
    "ssm_flat_ratio": 2.0,  # SSM s/it at d = 256 over d = 2: at most
    "ism_growth_ratio": 2.0,  # ISM s/it at d = 256 over d = 2: more than
    "ism_over_ssm_d256": 20.0,  # at least
    "exact_over_hutchinson_d1024": 100.0,  # at least
    "fisher_eight_gaussians": 0.05,  # ISM and SSM-VR: at most
}


# -- one cell (runs in its own subprocess) ---------------------------------------------------------
def mixture16_means() -> list[list[float]]:
    return [[4.0 if j == k else 0.0 for j in range(16)] for k in range(8)]


def data_section(dataset: str, dim: int) -> dict[str, Any]:
    if dataset == "standard_normal":
        return {"kind": "standard_normal", "dim": dim, "standardize": "none"}
    if dataset == "eight_gaussians":
        return {"kind": "eight_gaussians", "standardize": "scalar"}
    if dataset == "mixture16":
        return {"kind": "gaussian_mixture", "means": mixture16_means(), "std": 0.3, "standardize": "scalar"}
    raise ValueError(dataset)


def raw_config(cell: dict[str, Any], dsm_sigma_model: float | None) -> dict[str, Any]:
    method, steps = cell["method"], cell["steps"]
    if method == "dsm":
        model = {"kind": "ncsn_mlp", "hidden": cell["hidden"], "layers": 3}
        loss: dict[str, Any] = {"kind": "dsm", "sigma": dsm_sigma_model}
    else:
        model = {"kind": "score_mlp", "hidden": cell["hidden"], "layers": 3}
        loss = {"kind": method}
        if method in ("ssm", "ssm_vr"):
            loss.update(projections=1, estimator={"kind": "hutchinson", "distribution": "rademacher"})
    return {
        "data": data_section(cell["dataset"], cell["dim"]),
        "model": model,
        "loss": loss,
        "train": {
            "steps": steps,
            "batch_size": BATCH,
            "lr": LR,
            "lr_schedule": "cosine",
            "ema_decay": EMA,
            "seed": cell.get("seed", 0),
            "device": "cpu",
            "progress": False,
            "log_every": LOG_EVERY,
            "checkpoint_every": steps,
            "keep_checkpoints": 1,
        },
    }


def peak_rss_kib() -> int:
    """This process's resident-set peak in KiB: VmHWM of /proc/self/status, else ru_maxrss.

    ru_maxrss survives execve on Linux, so a subprocess started by a large parent would report the
    parent's peak; VmHWM belongs to the new address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run_cell(cell: dict[str, Any], threads: int) -> dict[str, Any]:
    import torch

    from scorekit._registry import load_registry
    from scorekit.config import load_config
    from scorekit.engine.evaluate import evaluate
    from scorekit.engine.run import METRICS_FILE, Run
    from scorekit.evaluation import relative_fisher_divergence

    torch.set_num_threads(threads)

    os.environ["OMP_NUM_THREADS"] = str(threads)  # a Run keeps this count (train.threads = 0)
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="scorekit-sm-") as tmp:
        sigma_model = None
        if cell["method"] == "dsm":
            # The loss's σ is in model units: find the data's scale first (same data seed, same data).
            probe = Run(load_config(raw_config(cell, 1.0), registry), registry, Path(tmp) / "probe")
            sigma_model = float(probe.data.standardizer.sigma_to_model(DSM_SIGMA))
        config = load_config(raw_config(cell, sigma_model), registry)
        run = Run(config, registry, Path(tmp) / "run")
        _ = run.data
        rss_before = peak_rss_kib()
        start = time.perf_counter()
        run.train()
        train_seconds = time.perf_counter() - start
        rss_peak = peak_rss_kib()
        records = [json.loads(line) for line in (run.run_dir / METRICS_FILE).read_text().splitlines() if line]
        if cell.get("timing_only"):
            fisher, fisher_sigma = None, None
        elif cell["method"] == "dsm":
            model, standardizer = run.trained_model()
            x0 = run.data.heldout[: config.eval.num_points]
            generator = torch.Generator().manual_seed(config.eval.seed)
            x = x0 + sigma_model * torch.randn(x0.shape, generator=generator)
            with torch.no_grad():
                predicted = model(x, torch.full((x.shape[0],), sigma_model))
            sigma_data = float(standardizer.sigma_to_data(sigma_model))
            true = standardizer.score_to_model(run.density.score(standardizer.inverse(x).double(), sigma=sigma_data))
            fisher, fisher_sigma = relative_fisher_divergence(predicted.double(), true.double()), sigma_data
        else:
            row = evaluate(run)["fisher"][0]
            fisher, fisher_sigma = row["relative_fisher"], row["sigma"]
    windows = [1.0 / r["steps_per_second"] for r in records[1:] if r.get("steps_per_second")]
    if records and records[-1]["step"] % LOG_EVERY:
        windows = windows[:-1]  # a last, shorter window
    return {
        **cell,
        "seconds_per_iteration": statistics.median(windows) if windows else None,
        "timed_windows": len(windows),
        "train_seconds": train_seconds,
        "final_loss": records[-1]["loss"] if records else None,
        "relative_fisher": fisher,
        "fisher_sigma": fisher_sigma,
        "max_rss_mib": rss_peak / 1024,
        "max_rss_delta_mib": (rss_peak - rss_before) / 1024,
    }


def cell_in_subprocess(cell: dict[str, Any], threads: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--cell", json.dumps(cell), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {**cell, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- trace estimators at d = 1024 -------------------------------------------------------------------
def time_trace_estimators(threads: int, repeats: int) -> dict[str, Any]:
    import torch

    from scorekit._registry import load_registry

    torch.set_num_threads(threads)

    os.environ["OMP_NUM_THREADS"] = str(threads)  # a Run keeps this count (train.threads = 0)
    registry = load_registry()
    entry = registry.get("model", "score_mlp")
    torch.manual_seed(0)
    model = entry.build(entry.config(hidden=256))
    model.bind((1024,))
    x = torch.randn(128, 1024)
    t = torch.zeros(128)
    estimators = {}
    for name, options in (("exact", {}), ("hutchinson", {"probes": 1, "distribution": "rademacher"})):
        est_entry = registry.get("trace_estimator", name)
        estimators[name] = est_entry.build(est_entry.config(**options))
    generator = torch.Generator().manual_seed(0)

    def once(name: str) -> float:
        start = time.perf_counter()
        estimators[name].trace(lambda z: model(z, t), x, create_graph=False, generator=generator)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in estimators}
    for name in estimators:
        once(name)  # warm-up
    order = list(estimators)
    for r in range(repeats):
        for name in order[r % 2 :] + order[: r % 2]:
            # One exact trace is seconds; time many Hutchinson calls per repeat to rise above timer noise.
            calls = 1 if name == "exact" else 20
            times[name].append(sum(once(name) for _ in range(calls)) / calls)
    medians = {name: statistics.median(v) for name, v in times.items()}
    return {
        "dim": 1024,
        "batch": 128,
        "hidden": 256,
        "repeats": repeats,
        "seconds": medians,
        "all_seconds": times,
        "ratio": medians["exact"] / medians["hutchinson"],
    }


# -- table, targets, plot ------------------------------------------------------------------------
def label(dataset: str, dim: int) -> str:
    return {"standard_normal": f"N(0, I_{dim})", "eight_gaussians": "eight_gaussians (d=2)"}.get(
        dataset, f"8-mode mixture (d={dim})"
    )


def markdown_table(cells: list[dict[str, Any]]) -> str:
    lines = [
        "| data | method | iterations | s / iteration | peak RSS (MiB) | RSS growth in training (MiB) "
        "| relative Fisher (σ) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cells:
        if "error" in c:
            lines.append(f"| {label(c['dataset'], c['dim'])} | {c['method']} | {c['steps']} | error: {c['error']} |||")
            continue
        mark = "*" if c.get("reduced") else ""
        spi = c["seconds_per_iteration"]
        spi_text = f"{spi:.3g}" if spi is not None else "-"
        if c["relative_fisher"] is None:
            fisher = "-"
        else:
            fisher = f"{c['relative_fisher']:.4f} (σ = {c['fisher_sigma']:.3g}){mark}"
        lines.append(
            f"| {label(c['dataset'], c['dim'])} | {c['method']} | {c['steps']}{mark} | {spi_text} "
            f"| {c['max_rss_mib']:.0f} | {c['max_rss_delta_mib']:.0f} | {fisher} |"
        )
    return "\n".join(lines)


def find(cells: list[dict[str, Any]], dataset: str, dim: int, method: str) -> dict[str, Any] | None:
    for c in cells:
        if c["dataset"] == dataset and c["dim"] == dim and c["method"] == method and "error" not in c:
            return c
    return None


def check_targets(cells: list[dict[str, Any]], trace: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def spi(method: str, dim: int) -> float | None:
        c = find(cells, "standard_normal", dim, method)
        return c["seconds_per_iteration"] if c else None

    ssm2, ssm256, ism2, ism256 = spi("ssm", 2), spi("ssm", 256), spi("ism", 2), spi("ism", 256)
    if None not in (ssm2, ssm256, ism2, ism256):
        ssm_ratio, ism_ratio = ssm256 / ssm2, ism256 / ism2
        out["ssm_flat_and_ism_grows"] = {
            "ssm_d256_over_d2": ssm_ratio,
            "ism_d256_over_d2": ism_ratio,
            "pass": ssm_ratio <= TARGETS["ssm_flat_ratio"] and ism_ratio > TARGETS["ism_growth_ratio"],
        }
        out["ism_over_ssm_d256"] = {"value": ism256 / ssm256, "pass": ism256 / ssm256 >= TARGETS["ism_over_ssm_d256"]}
    if trace is not None:
        out["exact_over_hutchinson_d1024"] = {
            "value": trace["ratio"],
            "pass": trace["ratio"] >= TARGETS["exact_over_hutchinson_d1024"],
        }
    for method in ("ism", "ssm_vr"):
        c = find(cells, "eight_gaussians", 2, method)
        if c is not None and c["relative_fisher"] is not None:
            out[f"fisher_eight_gaussians_{method}"] = {
                "value": c["relative_fisher"],
                "iterations": c["steps"],
                "pass": c["relative_fisher"] <= TARGETS["fisher_eight_gaussians"],
            }
    return out


def plot(cells: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method in METHODS:
        points = sorted(
            (c["dim"], c["seconds_per_iteration"])
            for c in cells
            if c["dataset"] == "standard_normal" and c["method"] == method and c.get("seconds_per_iteration")
        )
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=method)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("dimension d (N(0, I_d))")
    ax.set_ylabel("seconds per training iteration (batch 256)")
    ax.set_title("score matching: cost per iteration vs d")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d ∈ {2, 16}, 300 iterations: a smoke run")
    parser.add_argument("--only-timing", action="store_true", help="trace estimators and short N(0, I) timing runs")
    parser.add_argument("--steps", type=int, default=None, help="iterations per cell (default 2000; --quick 300)")
    parser.add_argument("--ism-large-steps", type=int, default=200, help="iterations of ISM at d ≥ 64 (default 200)")
    parser.add_argument("--timing-steps", type=int, default=60, help="iterations per cell with --only-timing")
    parser.add_argument("--trace-repeats", type=int, default=5, help="repeats of the d = 1024 trace timing")
    parser.add_argument("--no-trace", action="store_true", help="skip the d = 1024 trace-estimator timing")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in every process (default 2)")
    parser.add_argument(
        "--hidden", type=int, default=128, help="width of every net (default 128; see docs/score-matching.md for 512)"
    )
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.cell:
        print(json.dumps(run_cell(json.loads(args.cell), args.threads)))
        return

    dims = DIMS_QUICK if args.quick else DIMS_FULL
    steps = args.steps or (300 if args.quick else 2000)
    datasets: list[tuple[str, int]] = [("standard_normal", d) for d in dims]
    if not args.only_timing:
        datasets += [("eight_gaussians", 2), ("mixture16", 16)]
    plan = []
    for dataset, dim in datasets:
        for method in METHODS:
            cell: dict[str, Any] = {
                "dataset": dataset,
                "dim": dim,
                "method": method,
                "steps": steps,
                "hidden": args.hidden,
            }
            if args.only_timing:
                cell.update(steps=args.timing_steps, timing_only=True)
            elif method == "ism" and dim >= 64 and args.ism_large_steps < steps:
                cell.update(steps=args.ism_large_steps, reduced=True)
            plan.append(cell)

    mode = "quick" if args.quick else "full"
    mode += ", timing only" if args.only_timing else ""
    print(f"score matching ({mode}): {len(plan)} cells, {args.threads} torch threads, batch {BATCH}")
    trace = None
    if not args.no_trace:
        trace = time_trace_estimators(args.threads, args.trace_repeats)
        print(
            f"trace of ∇ₓs at d = 1024 (score_mlp width 256, batch 128, no graph): exact "
            f"{trace['seconds']['exact']:.3g} s, hutchinson (1 probe) {trace['seconds']['hutchinson'] * 1e3:.3g} ms, "
            f"ratio {trace['ratio']:.0f}×"
        )
    cells = []
    for cell in plan:
        start = time.perf_counter()
        cells.append(cell_in_subprocess(cell, args.threads))
        c = cells[-1]
        if "error" in c:
            print(f"  {label(c['dataset'], c['dim'])} {c['method']}: ERROR {c['error']}", flush=True)
        else:
            fisher = "-" if c["relative_fisher"] is None else f"{c['relative_fisher']:.4f}"
            print(
                f"  {label(c['dataset'], c['dim'])} {c['method']}: {c['seconds_per_iteration']:.3g} s/it, "
                f"rel. Fisher {fisher}, max RSS {c['max_rss_mib']:.0f} MiB "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )

    print()
    print(markdown_table(cells))
    print("\n`*`: ISM at d ≥ 64 trained for fewer iterations (its Fisher figure is not comparable).")
    targets = check_targets(cells, trace)
    print("\ntargets")
    for name, t in targets.items():
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in t.items() if k != "pass"}
        print(f"  {name}: {shown} {'PASS' if t['pass'] else 'FAIL'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / f"{NAME}.png"
    plotted = plot(cells, png)
    result = {
        "benchmark": NAME,
        "mode": mode,
        "threads": args.threads,
        "batch": BATCH,
        "lr": LR,
        "lr_schedule": "cosine",
        "ema_decay": EMA,
        "dsm_sigma": DSM_SIGMA,
        "mixture16_means": "4·e_k, k = 1..8, std 0.3",
        "targets": TARGETS,
        "trace_estimators": trace,
        "cells": cells,
        "checked": targets,
        "pass": all(t["pass"] for t in targets.values()) if targets else None,
    }
    path = RESULTS / f"{NAME}.json"
    path.write_text(json.dumps(result, indent=2, default=lambda v: None if math.isnan(v) else v), encoding="utf-8")
    print(f"wrote {path}" + (f" and {png}" if plotted else " (no plot: matplotlib missing)"))


if __name__ == "__main__":
    main()
