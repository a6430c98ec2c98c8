"""DDPM's ancestral sampling loop: scorekit's ``ddpm`` sampler against the loop driven by diffusers' DDPMScheduler.

What it measures (CPU, ``--threads`` torch threads, diffusers as a benchmark-only dependency)
    1000 ancestral steps on a batch of 4,096 points in d = 2, linear β from 1e-4 to 0.02, variance
    β̃_t (diffusers: ``variance_type="fixed_small"``, ``clip_sample=False``), under ``torch.no_grad``.
    Both loops call the same model: scorekit's ``time_mlp`` (3 × 128, SiLU, sinusoidal time
    embedding; random weights, which cost what trained ones cost), given t as a (B,) tensor;
    ``--hidden``/``--layers`` pick another width and depth.

    - scorekit: ``AncestralSampler.sample`` (what ``scorekit sample`` runs per chunk);
    - diffusers: the loop of its documentation, ``for t in scheduler.timesteps:
      eps = model(x, t.expand(B)); x = scheduler.step(eps, t, x, generator=g).prev_sample``.

    Total time, and the scheduler's own share: the same loops with the model replaced by one that
    returns zeros; (diffusers' total − its scheduler share)/(diffusers' total) is the lowest total
    ratio a scheduler costing nothing could reach with this model. ``--repeats`` interleaved runs
    after a warm-up; medians. Agreement: both schedules' ᾱ_t, and the mean and std of the two
    loops' samples (independent noise: they agree within sampling error, not bitwise).

Targets (issue 6): total ≤ 0.9× diffusers'; scheduler share ≤ 0.5× diffusers'.

Run ``python benchmarks/ddpm_sampling.py`` (about 2 minutes); writes ``benchmarks/results/ddpm_sampling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from scorekit.builtins.configs import TimeMLPConfig
from scorekit.nets import TimeMLP
from scorekit_ddpm.config import AncestralConfig, LinearScheduleConfig
from scorekit_ddpm.samplers import AncestralSampler
from scorekit_ddpm.schedules import LinearSchedule

RESULTS = Path(__file__).resolve().parent / "results"
BATCH, DIM, STEPS = 4096, 2, 1000


def zeros(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def ours(model: Callable[..., torch.Tensor], schedule: LinearSchedule) -> Callable[[int], torch.Tensor]:
    sampler = AncestralSampler(AncestralConfig(variance="posterior"))

    def run(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return sampler.sample(model, (BATCH, DIM), schedule=schedule, generator=generator)  # type: ignore[arg-type]

    return run


def peer(model: Callable[..., torch.Tensor]) -> tuple[Callable[[int], torch.Tensor], Any]:
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(
        num_train_timesteps=STEPS,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        variance_type="fixed_small",
        clip_sample=False,
        prediction_type="epsilon",
    )
    scheduler.set_timesteps(STEPS)

    def run(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            x = torch.randn((BATCH, DIM), generator=generator)
            for t in scheduler.timesteps:
                eps = model(x, t.expand(BATCH))
                x = scheduler.step(eps, t, x, generator=generator).prev_sample
        return x

    return run, scheduler


def timed(runs: dict[str, Callable[[int], torch.Tensor]], repeats: int) -> dict[str, float]:
    for run in runs.values():
        run(0)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run(r)
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per side (default 7)")
    parser.add_argument("--hidden", type=int, default=128, help="time_mlp width (default 128: the ddpm preset's)")
    parser.add_argument("--layers", type=int, default=3, help="time_mlp hidden layers (default 3: the preset's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    torch.manual_seed(0)
    model = TimeMLP(TimeMLPConfig(hidden=args.hidden, layers=args.layers))
    model.bind((DIM,))
    model.eval()
    schedule = LinearSchedule(LinearScheduleConfig(num_steps=STEPS, beta_start=1e-4, beta_end=0.02))
    peer_run, scheduler = peer(model)
    result: dict[str, Any] = {
        "threads": args.threads,
        "batch": BATCH,
        "steps": STEPS,
        "repeats": args.repeats,
        "model": {"hidden": args.hidden, "layers": args.layers},
    }
    result["alpha_bar_max_abs_diff"] = float((scheduler.alphas_cumprod.double() - schedule.alpha_bars).abs().max())
    a, b = ours(model, schedule)(1), peer_run(2)
    result["sample_mean"] = {"scorekit": a.mean(0).tolist(), "diffusers": b.mean(0).tolist()}
    result["sample_std"] = {"scorekit": a.std(0).tolist(), "diffusers": b.std(0).tolist()}
    print(
        f"ᾱ max |diff| {result['alpha_bar_max_abs_diff']:.2e}; "
        f"sample mean {result['sample_mean']}, std {result['sample_std']}"
    )

    total = timed({"scorekit": ours(model, schedule), "diffusers": peer_run}, args.repeats)
    zero_peer, _ = peer(zeros)
    share = timed({"scorekit": ours(zeros, schedule), "diffusers": zero_peer}, args.repeats)
    result["total_seconds"], result["scheduler_seconds"] = total, share
    result["total_ratio"] = total["scorekit"] / total["diffusers"]
    result["scheduler_ratio"] = share["scorekit"] / share["diffusers"]
    # A scheduler that cost nothing would leave the model's time: the lowest total ratio any loop can reach.
    result["total_ratio_bound"] = (total["diffusers"] - share["diffusers"]) / total["diffusers"]
    passed = result["total_ratio"] <= 0.9 and result["scheduler_ratio"] <= 0.5
    print(
        f"total: scorekit {total['scorekit']:.3f} s vs diffusers {total['diffusers']:.3f} s, ratio "
        f"{result['total_ratio']:.3f} (≤ 0.9; a free scheduler would give {result['total_ratio_bound']:.3f})\n"
        f"scheduler only (zero model): scorekit {share['scorekit'] * 1e3:.1f} ms "
        f"vs diffusers {share['diffusers'] * 1e3:.1f} ms, ratio {result['scheduler_ratio']:.3f} (≤ 0.5)\n"
        f"{'PASS' if passed else 'FAIL'}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = (
        "ddpm_sampling.json"
        if (args.hidden, args.layers) == (128, 3)
        else f"ddpm_sampling_{args.hidden}x{args.layers}.json"
    )
    (RESULTS / name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
