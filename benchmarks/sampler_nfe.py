"""Quality per network evaluation (NFE) on exact scores: scorekit's samplers beside diffusers' schedulers.

Issue 16, item 3a and 3c. The data are Gaussian mixtures whose noisy scores are known in closed form
(2-D eight_gaussians scaled to unit size, and a 16-D mixture of 8 components), the kernel is DDPM's
linear β schedule (1e-4 … 0.02, 1,000 steps) — scorekit's ``linear`` schedule and diffusers'
``beta_schedule="linear"`` have the same ᾱ_t to the last digit — and both libraries drive the same
exact model from the same x_T ~ N(0, I) at t = 999:

- pathwise error: the mean distance of each sample to the converged solution of the probability-flow
  ODE from the same x_T (dopri5 at rtol = atol = 1e-9 on dx̃/dσ = (x̃ − D)/σ, then D at σ_min, the
  step to σ = 0 that every sampler here ends with);
- distance to p₀: MMD² (scorekit.evaluation.mmd) between the samples and an exact draw of the same
  size, beside that of two exact draws; for 2-D the largest mode-weight error;
- time per sampling call with the same exact model (median over interleaved repeats, after a
  warm-up round).

The grid: Karras' ρ = 7 times on the 1,000 levels (``scorekit.grids.make_grid(schedule, "karras", n)``,
integer levels), handed to diffusers as ``set_timesteps(timesteps=...)`` where the scheduler takes
them (DPM-Solver multistep, Euler, Heun); UniPC (which takes explicit σ only for flow models) and
DDIM take a step count: UniPC with its own Karras σ over the same range, DDIM with its own
spacing (both noted in the table). diffusers is a
benchmark-only dependency: ``pip install diffusers``.

Run: python benchmarks/sampler_nfe.py [--nfe 5 10 20 50 100 200] [--num 1000] [--repeats 3]
Writes benchmarks/results/sampler_nfe.json and docs/img/sampler_nfe.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import scorekit
from scorekit import Start
from scorekit.data.mixture import GaussianMixture, eight_gaussians
from scorekit.evaluation import KernelScoreModel, kernel_score, mmd
from scorekit.grids import make_grid, sigma_of

ROOT = Path(__file__).resolve().parents[1]


def densities() -> dict[str, GaussianMixture]:
    g = torch.Generator().manual_seed(7)
    means16 = torch.randn(8, 16, generator=g, dtype=torch.float64)
    means16 = means16 / means16.norm(dim=1, keepdim=True) * 1.2  # total variance ≈ 1
    return {
        "eight_gaussians_2d": GaussianMixture(eight_gaussians().means / 4, 0.3 / 4),
        "mixture_16d": GaussianMixture(means16, 0.15),
    }


def reference(density: GaussianMixture, schedule: Any, x_T: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE solved to convergence in σ from t = 999 to t = 0, then D(σ_min)."""
    ends = sigma_of(schedule, torch.tensor([999.0, 0.0], dtype=torch.float64))
    sigma_max, sigma_min = float(ends[0]), float(ends[1])
    a_max = float(schedule.kernel(torch.tensor([999.0], dtype=torch.float64))[0])

    def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return x + sigma**2 * density.score(x, sigma=sigma)

    def velocity(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (x - denoiser(x, sigma)) / sigma

    times = torch.tensor([sigma_max, sigma_min], dtype=torch.float64)
    x = scorekit.odeint(velocity, x_T.double() / a_max, times, rtol=1e-9, atol=1e-9, options={"max_steps": 100000})
    return denoiser(x[-1], torch.tensor(sigma_min, dtype=torch.float64))


class Counted:
    """The exact ε-model for diffusers (ε = −s(t)·∇log p_t(x) at integer or float t), counting calls."""

    def __init__(self, density: GaussianMixture, schedule: Any) -> None:
        self.density, self.schedule, self.calls = density, schedule, 0

    def __call__(self, x: torch.Tensor, t: Any) -> torch.Tensor:
        self.calls += 1
        t_ = torch.as_tensor(t, dtype=torch.float64).reshape(1).expand(x.shape[0])
        a, s = self.schedule.kernel(t_)
        score = kernel_score(self.density, x.double(), a.double(), s.double())
        return (-s.double()[:, None] * score).to(x.dtype)


def diffusers_run(name: str, grid: torch.Tensor, sigmas: torch.Tensor, nfe: int) -> Callable[..., torch.Tensor]:
    """A sampling call of diffusers' scheduler ``name`` on the grid (or its own spacing for DDIM)."""
    import diffusers

    common = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear"}

    def build() -> Any:
        if name == "DPMSolverMultistep 2M":
            scheduler = diffusers.DPMSolverMultistepScheduler(**common, solver_order=2, algorithm_type="dpmsolver++")
            scheduler.set_timesteps(timesteps=[int(t) for t in grid])
        elif name == "DPMSolverMultistep 3M":
            scheduler = diffusers.DPMSolverMultistepScheduler(**common, solver_order=3, algorithm_type="dpmsolver++")
            scheduler.set_timesteps(timesteps=[int(t) for t in grid])
        elif name == "EulerDiscrete":
            scheduler = diffusers.EulerDiscreteScheduler(**common)
            scheduler.set_timesteps(timesteps=[int(t) for t in grid])
        elif name == "HeunDiscrete":
            scheduler = diffusers.HeunDiscreteScheduler(**common)
            scheduler.set_timesteps(timesteps=[int(t) for t in grid])
        elif name == "UniPCMultistep (own Karras)":
            # UniPC takes explicit σ only for flow models: its own Karras σ (ρ = 7) over the same range.
            scheduler = diffusers.UniPCMultistepScheduler(**common, use_karras_sigmas=True)
            scheduler.set_timesteps(nfe)
        elif name == "DDIM (own spacing)":
            scheduler = diffusers.DDIMScheduler(**common, set_alpha_to_one=True)
            scheduler.set_timesteps(nfe)
        else:
            raise ValueError(name)
        return scheduler

    def run(model: Counted, x_T: torch.Tensor) -> torch.Tensor:
        scheduler = build()
        x = x_T * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(x, t)
            x = scheduler.step(model(model_input, t), t, x).prev_sample
        return x

    return run


def scorekit_run(sampler: Any, schedule: Any) -> Callable[..., torch.Tensor]:
    def run(model: KernelScoreModel, x_T: torch.Tensor) -> torch.Tensor:
        return sampler.sample(model, tuple(x_T.shape), schedule=schedule, dtype=x_T.dtype, start=Start(x_T))

    return run


def build(registry: Any, kind: str, name: str, **values: Any) -> Any:
    entry = registry.get(kind, name)
    return entry.build(entry.config(**values))


def cells(registry: Any, schedule: Any, nfe: int) -> dict[str, tuple[str, Callable[..., torch.Tensor], int]]:
    """(library, run, steps) per sampler at ``nfe`` evaluations (Heun: the odd NFE at or below it)."""
    grid = make_grid(schedule, "karras", nfe)
    sigmas = sigma_of(schedule, grid)
    heun_steps = max((nfe - 1) // 2, 1)
    heun_grid = make_grid(schedule, "karras", heun_steps + 1)
    out: dict[str, tuple[str, Callable[..., torch.Tensor], int]] = {
        "dpmpp 2M": (
            "scorekit",
            scorekit_run(build(registry, "sampler", "dpmpp", steps=nfe - 1, grid="karras"), schedule),
            nfe,
        ),
        "dpmpp 3M": (
            "scorekit",
            scorekit_run(build(registry, "sampler", "dpmpp", steps=nfe - 1, grid="karras", order=3), schedule),
            nfe,
        ),
        "unipc": (
            "scorekit",
            scorekit_run(build(registry, "sampler", "unipc", steps=nfe - 1, grid="karras"), schedule),
            nfe,
        ),
        "karras_euler": (
            "scorekit",
            scorekit_run(build(registry, "sampler", "karras_euler", steps=nfe - 1), schedule),
            nfe,
        ),
        "karras_heun": (
            "scorekit",
            scorekit_run(build(registry, "sampler", "karras_heun", steps=heun_steps), schedule),
            2 * heun_steps + 1,
        ),
        "ddim": ("scorekit", scorekit_run(build(registry, "sampler", "ddim", steps=nfe, grid="karras"), schedule), nfe),
        "DPMSolverMultistep 2M": ("diffusers", diffusers_run("DPMSolverMultistep 2M", grid, sigmas, nfe), nfe),
        "DPMSolverMultistep 3M": ("diffusers", diffusers_run("DPMSolverMultistep 3M", grid, sigmas, nfe), nfe),
        "EulerDiscrete": ("diffusers", diffusers_run("EulerDiscrete", grid, sigmas, nfe), nfe),
        "HeunDiscrete": ("diffusers", diffusers_run("HeunDiscrete", heun_grid, sigmas, nfe), 2 * heun_steps + 1),
        "UniPCMultistep (own Karras)": (
            "diffusers",
            diffusers_run("UniPCMultistep (own Karras)", grid, sigmas, nfe),
            nfe,
        ),
        "DDIM (own spacing)": ("diffusers", diffusers_run("DDIM (own spacing)", grid, sigmas, nfe), nfe),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nfe", type=int, nargs="+", default=[5, 10, 20, 50, 100, 200])
    parser.add_argument("--num", type=int, default=1000, help="paths per sampling call")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per cell, interleaved")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    registry = scorekit.load_registry()
    schedule = build(registry, "schedule", "linear")
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for data_name, density in densities().items():
        d = density.dim
        g = torch.Generator().manual_seed(0)
        x_T = torch.randn(args.num, d, generator=g, dtype=torch.float32)
        truth = reference(density, schedule, x_T)
        exact_a = density.sample(args.num, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        exact_b = density.sample(args.num, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        mmd_baseline = float(mmd(exact_a, exact_b, generator=torch.Generator().manual_seed(3)))
        for nfe in args.nfe:
            samplers = cells(registry, schedule, nfe)
            times: dict[str, list[float]] = {name: [] for name in samplers}
            outputs: dict[str, torch.Tensor] = {}
            counts: dict[str, int] = {}
            for round_ in range(args.repeats + 1):  # interleaved: every sampler once per round; round 0 warms up
                for name, (library, run, _) in samplers.items():
                    model: Any = (
                        Counted(density, schedule) if library == "diffusers" else KernelScoreModel(density, schedule)
                    )
                    calls = [0]
                    if library == "scorekit":
                        model.register_forward_hook(lambda *a, calls=calls: calls.__setitem__(0, calls[0] + 1))
                    t0 = time.perf_counter()
                    with torch.no_grad():
                        out = run(model, x_T)
                    if round_ > 0:
                        times[name].append(time.perf_counter() - t0)
                    outputs[name] = out.double()
                    counts[name] = model.calls if library == "diffusers" else calls[0]
            for name, (library, _, _) in samplers.items():
                x = outputs[name]
                finite = bool(torch.isfinite(x).all())
                row = {
                    "data": data_name,
                    "nfe_target": nfe,
                    "sampler": name,
                    "library": library,
                    "nfe": counts[name],
                    "pathwise_error": float((x - truth).norm(dim=1).mean()) if finite else None,
                    "mmd": float(mmd(x, exact_a, generator=torch.Generator().manual_seed(3))) if finite else None,
                    "mmd_baseline": mmd_baseline,
                    "seconds": statistics.median(times[name]),
                }
                if d == 2 and finite:
                    row["mode_weight_error"] = float((density.mode_weights(x) - density.weights).abs().max())
                rows.append(row)
                error = "diverged" if row["pathwise_error"] is None else format(row["pathwise_error"], ".3e")
                distance = "—" if row["mmd"] is None else format(row["mmd"], ".2e")
                print(
                    f"{data_name:<19} NFE {counts[name]:>3} {name:<27} {library:<9} err {error:>10} "
                    f"MMD² {distance:>9} {row['seconds'] * 1e3:8.1f} ms",
                    flush=True,
                )
    result = {
        "machine": platform.machine(),
        "torch": torch.__version__,
        "threads": args.threads,
        "num": args.num,
        "repeats": args.repeats,
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampler_nfe.json").write_text(json.dumps(result, indent=2))
    plot(rows, ROOT / "docs" / "img" / "sampler_nfe.png")
    print(f"wall {result['wall_seconds']:.0f} s; wrote {out / 'sampler_nfe.json'}")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data_names = sorted({r["data"] for r in rows})
    fig, axes = plt.subplots(1, len(data_names), figsize=(6 * len(data_names), 4.5), squeeze=False)
    for ax, data_name in zip(axes[0], data_names, strict=True):
        for name in dict.fromkeys(r["sampler"] for r in rows):
            points = sorted(
                (r["nfe"], r["pathwise_error"])
                for r in rows
                if r["data"] == data_name and r["sampler"] == name and r["pathwise_error"]
            )
            if points:
                library = next(r["library"] for r in rows if r["sampler"] == name)
                style = "-o" if library == "scorekit" else "--s"
                ax.loglog(*zip(*points, strict=True), style, label=f"{name} ({library})", markersize=3)
        ax.set_xlabel("model evaluations (NFE)")
        ax.set_ylabel("pathwise error vs converged ODE")
        ax.set_title(f"exact scores, DDPM linear kernel, {data_name}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
