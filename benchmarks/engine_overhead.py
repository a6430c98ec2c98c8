"""Engine overhead: scorekit's training step and annealed Langevin sampler against hand-written PyTorch.

What it measures
    1. Training: seconds per optimizer step of ``Trainer.run()`` for the default preset (``ncsn``:
       NCSNMLP 128×3 on eight_gaussians, NCSN loss over 10 geometric σ levels, batch 512, Adam,
       cosine lr, EMA 0.999), built through the real path (``load_registry`` → ``load_config`` →
       ``Run``), against a hand-written loop doing the same work on a fresh NCSNMLP of the same
       config and seed, the same training tensor and the same generator draws: ``torch.randint``
       batch indices, σ uniform over the same levels, x̃ = x + σε, loss = mean ½‖σ·s(x̃, σ) + ε‖²,
       Adam (fused, as the engine uses) with the same lr, the cosine lr set every step, EMA via
       ``torch._foreach_lerp_`` with the engine's warm-up. The hand-written loop does not check
       the loss and gradients for NaN every step, as the engine does: that check is part of what
       the ratio measures.
       A second baseline, the *bare* loop, drops the EMA and the lr schedule (labelled as such).
       The scorekit figure is reported twice: with the one checkpoint ``Trainer.run`` writes at its
       final step included, and with the time spent inside ``Trainer.save`` subtracted (the limit
       of a run so long that the one checkpoint is negligible). Periodic metrics records
       (``log_every``) stay in: they are part of the engine's per-step work.
    2. Sampling: seconds for ``AnnealedLangevin.sample`` (the preset's sampler: 10 levels × 100
       steps, ε = 5e-4, Tweedie denoising) on N = 4000 points against a hand-written Algorithm 1
       of Song & Ermon (2019) with the same model, generator seed and denoising step, both under
       ``torch.no_grad``.

How
    The sides are timed interleaved in one process, the order rotated every repeat (A, B, C, then
    B, C, A, …) to cancel drift, after one untimed warm-up of each side; the figure is the median
    over repeats and the ratio is the ratio of medians. ``torch.set_num_threads`` is set once (same
    value for every side). As a check that the loops do the same work, the hand-written training
    loop's final weights are compared with scorekit's (same seed, same draws) and the samplers'
    outputs with each other.

Target
    scorekit training step ≤ 1.05× the hand-written loop (with EMA and lr schedule);
    scorekit annealed Langevin sampling ≤ 1.05× the hand-written loop.

Run ``python benchmarks/engine_overhead.py`` (1–2.5 minutes on 2 cores, depending on load); ``--help`` for
options. Writes ``benchmarks/results/engine_overhead.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from scorekit._registry import Registry, load_registry
from scorekit.config import RunConfig, apply_overrides, load_config, parse_toml
from scorekit.engine.checkpoint import Checkpoint
from scorekit.engine.run import Run
from scorekit.engine.trainer import Trainer
from scorekit.nets.mlp import NCSNMLP

NAME = "engine_overhead"
RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 1.05


# -- helpers -----------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values)


def rotated(sides: list[str], repeat: int) -> list[str]:
    k = repeat % len(sides)
    return sides[k:] + sides[:k]


@contextlib.contextmanager
def timed_methods(log: dict[str, list[float]]) -> Iterator[None]:
    """Record the wall time of every ``Trainer.run`` and ``Trainer.save`` call while active."""
    originals = {name: getattr(Trainer, name) for name in ("run", "save")}

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(self: Trainer, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                log.setdefault(name, []).append(time.perf_counter() - start)

        return timed

    try:
        for name, method in originals.items():
            setattr(Trainer, name, wrap(name, method))
        yield
    finally:
        for name, method in originals.items():
            setattr(Trainer, name, method)


def preset_config(registry: Registry, overrides: list[str]) -> RunConfig:
    raw = parse_toml(registry.preset("ncsn").toml_text, "preset 'ncsn'")
    return load_config(apply_overrides(raw, overrides), registry)


# -- training ----------------------------------------------------------------------------------
def scorekit_train(config: RunConfig, registry: Registry) -> tuple[float, float, Checkpoint]:
    """One Run.train() in a fresh run directory; returns (Trainer.run seconds, Trainer.save seconds, the
    final checkpoint: model and EMA weights as the trainer left them, from memory)."""
    log: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="scorekit-bench-") as tmp:
        run = Run(config, registry, Path(tmp) / "run")
        _ = run.data  # data generation is not part of the step
        with timed_methods(log):
            run.train()
        checkpoint = run.checkpoint()
    return log["run"][0], sum(log.get("save", [])), checkpoint


class HandLoop:
    """The training loop a careful person writes by hand for the same model, loss and data."""

    def __init__(self, config: RunConfig, train: torch.Tensor, sigmas: torch.Tensor, *, full: bool) -> None:
        self.config = config
        self.train = train
        self.sigmas = sigmas
        self.full = full  # EMA and cosine lr; otherwise the bare loop (constant lr, no EMA)
        # How the preset draws σ: its levels, or (the dsm schedules' "continuous" training) log σ
        # uniform over the levels' range widened by half a log-step at each end, folded back in.
        self.training = config.schedule.config.training  # type: ignore[union-attr]
        assert self.training in ("levels", "continuous"), self.training
        low, high = math.log(float(sigmas[-1])), math.log(float(sigmas[0]))
        below, above = 0.5 * (math.log(float(sigmas[-2])) - low), 0.5 * (high - math.log(float(sigmas[1])))
        self.log_range = (low, high, below, above)

    def new_model(self) -> NCSNMLP:
        torch.manual_seed(self.config.train.seed)
        model = NCSNMLP(self.config.model.config)
        model.bind(tuple(self.train.shape[1:]))
        return model

    def run(self) -> tuple[float, NCSNMLP, list[torch.Tensor]]:
        tc = self.config.train
        model = self.new_model()
        params = list(model.parameters())
        optimizer = torch.optim.Adam(params, lr=tc.lr, fused=True)
        ema = [p.detach().clone() for p in params]
        generator = torch.Generator().manual_seed(tc.seed)
        data, sigmas, n, batch = self.train, self.sigmas, self.train.shape[0], tc.batch_size
        num_levels, steps, lr0, decay = len(sigmas), tc.steps, tc.lr, tc.ema_decay
        full = self.full
        model.train()
        start = time.perf_counter()
        for step in range(steps):
            if full:
                lr = lr0 * 0.5 * (1.0 + math.cos(math.pi * step / steps))
                for group in optimizer.param_groups:
                    group["lr"] = lr
            x = data[torch.randint(n, (batch,), generator=generator)]
            if self.training == "levels":
                sigma = sigmas[torch.randint(num_levels, (batch,), generator=generator)]
            else:
                low, high, below, above = self.log_range
                v = (low - below) + (high - low + below + above) * torch.rand(batch, generator=generator)
                v = torch.where(v < low, 2 * low - v, v)
                sigma = torch.where(v > high, 2 * high - v, v).exp()
            eps = torch.randn(x.shape, generator=generator)
            s = sigma[:, None]
            loss = (0.5 * (model(x + s * eps, sigma) * s + eps).square().sum(dim=1)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if full:
                with torch.no_grad():
                    # The engine's EMA warm-up: β_k = min(decay, (1 + k)/(10 + k)).
                    torch._foreach_lerp_(ema, params, 1.0 - min(decay, (1 + step) / (10 + step)))
        return time.perf_counter() - start, model, ema


def bench_training(registry: Registry, steps: int, repeats: int, log_every: int) -> dict[str, Any]:
    overrides = [
        f"train.steps={steps}",
        f"train.log_every={log_every}",
        f"train.checkpoint_every={steps + 1}",
        "train.progress=false",
        "train.device='cpu'",
    ]
    config = preset_config(registry, overrides)
    tc = config.train
    assert tc.lr_schedule == "cosine" and tc.lr_min_factor == 0.0 and tc.weight_decay == 0.0 and tc.grad_clip == 0.0
    with tempfile.TemporaryDirectory() as tmp:
        probe = Run(config, registry, Path(tmp))
        train, levels = probe.data.train, probe.schedule.levels()  # type: ignore[union-attr]
    sched = config.schedule.config  # type: ignore[union-attr]
    sigmas = torch.logspace(
        math.log10(sched.sigma_max), math.log10(sched.sigma_min), sched.num_levels, dtype=torch.float64
    ).float()
    assert torch.equal(sigmas, levels), "hand-written σ levels differ from the schedule's"
    hand, bare = HandLoop(config, train, sigmas, full=True), HandLoop(config, train, sigmas, full=False)

    # Warm-up (untimed), a short run of each side; it doubles as the check that both do the same
    # work: same seed and same generator draws must give (nearly) the same weights.
    short = preset_config(registry, [*overrides, "train.steps=50"])
    _, _, reference = scorekit_train(short, registry)
    _, hand_model, hand_ema = HandLoop(short, train, sigmas, full=True).run()
    HandLoop(short, train, sigmas, full=False).run()
    weights, ema = reference.group("model"), reference.group("ema")
    assert ema, "the preset keeps an EMA"
    same_work = {
        "steps": 50,
        "max_abs_weight_diff": max(
            (weights[name] - b.detach()).abs().max().item() for name, b in hand_model.named_parameters()
        ),
        "max_abs_ema_diff": max((ema[str(i)] - b).abs().max().item() for i, b in enumerate(hand_ema)),
    }

    times: dict[str, list[float]] = {"scorekit": [], "scorekit_no_ckpt": [], "hand": [], "bare": []}
    saves: list[float] = []
    for repeat in range(repeats):
        for side in rotated(["scorekit", "hand", "bare"], repeat):
            if side == "scorekit":
                run_s, save_s, _ = scorekit_train(config, registry)
                times["scorekit"].append(run_s / steps)
                times["scorekit_no_ckpt"].append((run_s - save_s) / steps)
                saves.append(save_s)
            else:
                seconds, _, _ = (hand if side == "hand" else bare).run()
                times[side].append(seconds / steps)
    med = {k: median(v) for k, v in times.items()}
    return {
        "steps": steps,
        "repeats": repeats,
        "log_every": log_every,
        "batch_size": tc.batch_size,
        "seconds_per_step": times,
        "median_seconds_per_step": med,
        "checkpoint_seconds_median": median(saves),
        "ratio_vs_hand": med["scorekit"] / med["hand"],
        "ratio_vs_hand_no_checkpoint": med["scorekit_no_ckpt"] / med["hand"],
        "ratio_vs_bare_loop_no_ema_no_lr_schedule": med["scorekit"] / med["bare"],
        "ratio_vs_bare_loop_no_checkpoint": med["scorekit_no_ckpt"] / med["bare"],
        "same_work_check": same_work,
    }


# -- sampling ----------------------------------------------------------------------------------
def hand_langevin(
    model: torch.nn.Module,
    n: int,
    sigmas: list[float],
    steps_per_level: int,
    epsilon: float,
    denoise: bool,
    generator: torch.Generator,
) -> torch.Tensor:
    """Song & Ermon (2019), Algorithm 1, started from N(0, σ₁²I) (the preset's init), then Tweedie."""
    x = sigmas[0] * torch.randn((n, 2), generator=generator)
    t = torch.empty(n)
    for sigma in sigmas:
        t.fill_(sigma)
        alpha = epsilon * (sigma / sigmas[-1]) ** 2
        for _ in range(steps_per_level):
            z = torch.randn((n, 2), generator=generator)
            x.add_(model(x, t), alpha=0.5 * alpha).add_(z, alpha=math.sqrt(alpha))
    if denoise:
        x = x + sigmas[-1] ** 2 * model(x, t)
    return x


def bench_sampling(registry: Registry, num: int, repeats: int) -> dict[str, Any]:
    config = preset_config(registry, ["train.device='cpu'"])
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(config, registry, Path(tmp))
    sampler, schedule = run.sampler, run.schedule
    assert sampler is not None and schedule is not None
    sc = config.sampler.config  # type: ignore[union-attr]
    assert sc.init == "normal"
    model = run.new_model((2,)).eval()  # fresh weights: they do not change the work
    sigmas = schedule.levels().tolist()

    def scorekit_side(seed: int) -> tuple[float, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        with torch.no_grad():
            x = sampler.sample(model, (num, 2), schedule=schedule, generator=generator, device="cpu")
        return time.perf_counter() - start, x

    def hand_side(seed: int) -> tuple[float, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        with torch.no_grad():
            x = hand_langevin(model, num, sigmas, sc.steps_per_level, sc.epsilon, sc.denoise, generator)
        return time.perf_counter() - start, x

    # Warm-up on a small N, then check that both do the same work (same draws → same output).
    with torch.no_grad():
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        a = sampler.sample(model, (256, 2), schedule=schedule, generator=g1, device="cpu")
        b = hand_langevin(model, 256, sigmas, sc.steps_per_level, sc.epsilon, sc.denoise, g2)
    same_work = {"max_abs_sample_diff": (a - b).abs().max().item()}

    sides = {"scorekit": scorekit_side, "hand": hand_side}
    times: dict[str, list[float]] = {k: [] for k in sides}
    for repeat in range(repeats):
        for side in rotated(list(sides), repeat):
            seconds, _ = sides[side](repeat)
            times[side].append(seconds)
    med = {k: median(v) for k, v in times.items()}
    return {
        "num": num,
        "levels": len(sigmas),
        "steps_per_level": sc.steps_per_level,
        "denoise": sc.denoise,
        "repeats": repeats,
        "seconds": times,
        "median_seconds": med,
        "ratio_vs_hand": med["scorekit"] / med["hand"],
        "same_work_check": same_work,
    }


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every side (default 2)")
    parser.add_argument("--steps", type=int, default=500, help="training steps per timed run (default 500)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved training repeats (default 7)")
    parser.add_argument("--log-every", type=int, default=100, help="scorekit's train.log_every (default 100)")
    parser.add_argument("--num", type=int, default=4000, help="points sampled (default 4000)")
    parser.add_argument("--sample-repeats", type=int, default=5, help="interleaved sampling repeats (default 5)")
    parser.add_argument("--skip-sampling", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    registry = load_registry()
    started = time.perf_counter()
    training = bench_training(registry, args.steps, args.repeats, args.log_every)
    sampling = None if args.skip_sampling else bench_sampling(registry, args.num, args.sample_repeats)

    med = training["median_seconds_per_step"]
    print(f"engine overhead ({args.threads} torch threads, {platform.processor() or platform.machine()})")
    print(f"\ntraining: {args.steps} steps × {args.repeats} interleaved repeats, batch {training['batch_size']}")
    print(f"  {'side':<44}{'ms/step (median)':>18}")
    rows = [
        ("scorekit Trainer.run (incl. final checkpoint)", med["scorekit"]),
        ("scorekit Trainer.run (minus Trainer.save)", med["scorekit_no_ckpt"]),
        ("hand-written loop (EMA + cosine lr)", med["hand"]),
        ("bare loop (no EMA, constant lr)", med["bare"]),
    ]
    for label, value in rows:
        print(f"  {label:<44}{1e3 * value:>18.3f}")
    print(f"  checkpoint write (median): {1e3 * training['checkpoint_seconds_median']:.1f} ms")
    ok_train = training["ratio_vs_hand"] <= TARGET
    print(
        f"  ratio scorekit / hand-written: {training['ratio_vs_hand']:.3f} "
        f"(minus checkpoint {training['ratio_vs_hand_no_checkpoint']:.3f}); "
        f"target ≤ {TARGET}: {'PASS' if ok_train else 'FAIL'}"
    )
    print(
        f"  ratio scorekit / bare loop (no EMA, no lr schedule): "
        f"{training['ratio_vs_bare_loop_no_ema_no_lr_schedule']:.3f} "
        f"(minus checkpoint {training['ratio_vs_bare_loop_no_checkpoint']:.3f}); informational"
    )
    sw = training["same_work_check"]
    print(f"  same-work check: max |Δweight| {sw['max_abs_weight_diff']:.2e}, max |ΔEMA| {sw['max_abs_ema_diff']:.2e}")
    result: dict[str, Any] = {
        "benchmark": NAME,
        "threads": args.threads,
        "target_ratio": TARGET,
        "training": training,
        "training_pass": ok_train,
    }
    if sampling is not None:
        ms = sampling["median_seconds"]
        ok_sample = sampling["ratio_vs_hand"] <= TARGET
        print(
            f"\nsampling: N = {sampling['num']}, {sampling['levels']} levels × {sampling['steps_per_level']} steps"
            f"{' + denoise' if sampling['denoise'] else ''}, {sampling['repeats']} interleaved repeats"
        )
        print(f"  {'side':<44}{'s (median)':>18}")
        print(f"  {'scorekit AnnealedLangevin.sample':<44}{ms['scorekit']:>18.3f}")
        print(f"  {'hand-written Algorithm 1':<44}{ms['hand']:>18.3f}")
        print(
            f"  ratio scorekit / hand-written: {sampling['ratio_vs_hand']:.3f}; "
            f"target ≤ {TARGET}: {'PASS' if ok_sample else 'FAIL'}"
        )
        print(f"  same-work check: max |Δsample| {sampling['same_work_check']['max_abs_sample_diff']:.2e}")
        result["sampling"] = sampling
        result["sampling_pass"] = ok_sample
    result["wall_seconds"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{NAME}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nwall {result['wall_seconds']:.0f} s; wrote {path}")


if __name__ == "__main__":
    main()
