"""scorekit's ODE solvers and adjoint against torchdiffeq: gradient agreement, speed, NFE, memory.

What it measures (CPU, ``--threads`` torch threads, torchdiffeq as a benchmark-only dependency):

1. Gradients at rtol = atol = 1e-9, float64, dopri5: an MLP field f(z, t) (2 → 32 → 32 → 2, tanh,
   t appended to the input), batch 64, output times [0, 0.5, 1], loss Σ w_k·z(t_k)². Gradients with
   respect to z₀, t and every parameter from scorekit's adjoint, scorekit's direct backpropagation
   and torchdiffeq's ``odeint_adjoint``; the largest relative error ‖g − g_ref‖/‖g_ref‖ over the
   tensors, against scorekit's adjoint.
2. Speed: forward + backward of dopri5 at rtol = atol = 1e-5 through the adjoint, batch 512,
   d ∈ {2, 64}, field d → 64 → 64 → d (tanh, t appended, output scaled by 3 so that the solve takes
   tens of steps), t ∈ [0, 1], loss Σ z(1)². scorekit's adjoint, with and without the seminorm,
   against torchdiffeq's ``odeint_adjoint`` (and its seminorm), interleaved, ``--repeats`` times
   after a warm-up; medians. NFE counted by the field itself (forward and backward together) and,
   for scorekit, split by its SolveStats.
3. Memory: RK4 with fixed steps, batch 4096 (``--memory-batch``), d = 2, field 2 → 64 → 64 → 2, loss Σ z(1)², forward +
   backward, each cell in a fresh subprocess, ``--memory-repeats`` times (median): a 10-step solve
   first (imports, lazy initialisation, thread pools), then the peak resident set is reset
   (``/proc/self/clear_refs``) and the measured solve's peak minus the resident set just before it is
   recorded (VmHWM − VmRSS, Linux), with the bytes the forward pass saves for backward (saved-tensor
   hooks; exact). The subprocesses run with glibc's mmap threshold pinned at 64 KiB
   (``MALLOC_MMAP_THRESHOLD_``): by default glibc raises that threshold each time a large block is
   freed, after which megabyte-sized tensors come from the brk heap, whose freed space stays resident,
   so RSS grows with the number of allocations rather than with what is live (measured: 60.7 → 73.0 MiB
   from 10 to 1000 steps with the default, while the saved graph stays at 0.08 MiB). Pinning it
   applies to both libraries and all step counts alike. scorekit's adjoint and torchdiffeq's
   ``odeint_adjoint`` at 10, 100, 1000 steps; scorekit's direct backpropagation at 10, 30, 100 (1000
   would need ~16 GB); a plot of all three.

Targets (issue 5): adjoint gradients within 1e-6 of torchdiffeq's and of direct backprop; adjoint
time ≤ 0.8× torchdiffeq's with NFE ≤ torchdiffeq's at d = 2 and d = 64; seminorm backward NFE ≤ 0.8×
the plain norm's; adjoint peak memory from 10 to 1000 steps ≤ 1.1×.

Run ``python benchmarks/ode_adjoint.py`` (about 6 minutes on 2 cores); writes
``benchmarks/results/ode_adjoint.json`` and ``benchmarks/results/ode_memory.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"
BATCH_MEMORY = 4096


class Field(nn.Module):
    """f(z, t): an MLP on [z, t], tanh, output scaled; counts its own evaluations."""

    def __init__(self, dim: int, hidden: int, scale: float = 1.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, dim)
        )
        self.scale = scale
        self.nfe = 0

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        return self.scale * self.net(torch.cat([z, t.to(z.dtype).expand(z.shape[0], 1)], dim=1))


def _seminorm(state: torch.Tensor) -> torch.Tensor:  # torchdiffeq's seminorm for a single-tensor state
    return state.abs().pow(2).mean().sqrt()


# -- 1. gradients --------------------------------------------------------------------------------
def gradients() -> dict[str, Any]:
    import torchdiffeq

    import scorekit

    torch.manual_seed(0)
    field = Field(2, 32).double()
    z0 = torch.randn(64, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    weights = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64).view(3, 1, 1)

    def grads(run: Any) -> list[torch.Tensor]:
        z = z0.clone().requires_grad_(True)
        times = t.clone().requires_grad_(True)
        field.zero_grad(set_to_none=True)
        ys = run(z, times)
        (weights * ys.square()).sum().backward()
        return [z.grad, times.grad, *[p.grad for p in field.parameters()]]

    tol = {"rtol": 1e-9, "atol": 1e-9}
    ours = grads(lambda z, s: scorekit.odeint(field, z, s, adjoint=True, **tol))
    direct = grads(lambda z, s: scorekit.odeint(field, z, s, **tol))
    peer = grads(lambda z, s: torchdiffeq.odeint_adjoint(field, z, s, method="dopri5", **tol))

    def worst(other: list[torch.Tensor]) -> float:
        return max(float((o - g).norm() / g.norm()) for o, g in zip(other, ours, strict=True))

    return {"vs_torchdiffeq_adjoint": worst(peer), "vs_direct_backprop": worst(direct)}


# -- 2. speed ------------------------------------------------------------------------------------
def speed(dim: int, repeats: int) -> dict[str, Any]:
    import torchdiffeq

    from scorekit.ode import build_solver

    torch.manual_seed(0)
    field = Field(dim, 64, scale=3.0)
    z0 = torch.randn(512, dim)
    t = torch.tensor([0.0, 1.0])
    tol = {"rtol": 1e-5, "atol": 1e-5}
    plain = build_solver("dopri5", adjoint=True, **tol)
    semi = build_solver("dopri5", adjoint=True, seminorm=True, **tol)

    def ours(solver: Any) -> Any:
        def run() -> dict[str, int]:
            field.nfe = 0
            ys = solver.integrate(field, z0, t)
            ys[-1].square().sum().backward()
            s = solver.stats
            return {"nfe": field.nfe, "forward_nfe": s.nfe, "backward_nfe": s.backward_nfe}

        return run

    def peer(seminorm: bool) -> Any:
        options = {"norm": "seminorm"} if seminorm else None

        def run() -> dict[str, int]:
            field.nfe = 0
            ys = torchdiffeq.odeint_adjoint(field, z0, t, method="dopri5", adjoint_options=options, **tol)
            forward = field.nfe
            ys[-1].square().sum().backward()
            return {"nfe": field.nfe, "forward_nfe": forward, "backward_nfe": field.nfe - forward}

        return run

    runs = {
        "scorekit": ours(plain),
        "scorekit_seminorm": ours(semi),
        "torchdiffeq": peer(False),
        "torchdiffeq_seminorm": peer(True),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    counts: dict[str, dict[str, int]] = {}
    for name, run in runs.items():  # warm-up
        counts[name] = run()
    for _ in range(repeats):
        for name, run in runs.items():
            field.zero_grad(set_to_none=True)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(v) for name, v in times.items()}
    return {
        "dim": dim,
        "seconds": medians,
        "nfe": counts,
        "time_ratio": medians["scorekit"] / medians["torchdiffeq"],
        "time_ratio_seminorm": medians["scorekit_seminorm"] / medians["torchdiffeq_seminorm"],
        "seminorm_backward_nfe_ratio": counts["scorekit_seminorm"]["backward_nfe"] / counts["scorekit"]["backward_nfe"],
    }


# -- 3. memory (one subprocess per cell) ---------------------------------------------------------
def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def memory_cell(steps: int, impl: str, adjoint: bool, batch: int = BATCH_MEMORY) -> dict[str, Any]:
    import scorekit

    torch.manual_seed(0)
    field = Field(2, 64)
    z0 = torch.randn(batch, 2)
    t = torch.tensor([0.0, 1.0])
    saved = 0

    def pack(x: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += x.numel() * x.element_size()
        return x

    def solve(n: int) -> None:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            if impl == "scorekit":
                ys = scorekit.odeint(field, z0, t, solver="rk4", options={"steps": n}, adjoint=adjoint)
            else:
                import torchdiffeq

                run = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
                ys = run(field, z0, t, method="rk4", options={"step_size": 1.0 / n})
        ys[-1].square().sum().backward()

    solve(10)  # warm-up: imports, plugin registry, thread pools, autograd engine
    field.zero_grad(set_to_none=True)
    saved = 0
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    solve(steps)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    return {
        "steps": steps,
        "batch": batch,
        "impl": impl,
        "adjoint": adjoint,
        "peak_mib": (peak - before) / 1024,
        "graph_mib": saved / 2**20,
        "seconds": seconds,
    }


MEMORY_CELLS = (
    [("scorekit", True, n) for n in (10, 100, 1000)]
    + [("torchdiffeq", True, n) for n in (10, 100, 1000)]
    + [("scorekit", False, n) for n in (10, 30, 100)]
)


def memory(threads: int, repeats: int, batch: int = BATCH_MEMORY) -> list[dict[str, Any]]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    cells = []
    for impl, adjoint, steps in MEMORY_CELLS:
        runs = []
        for _ in range(repeats):
            cell = json.dumps({"steps": steps, "impl": impl, "adjoint": adjoint, "batch": batch})
            out = subprocess.run(
                [sys.executable, __file__, "--memory-cell", cell, "--threads", str(threads)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        c = {**runs[0], "peak_mib": statistics.median(r["peak_mib"] for r in runs)}
        c["peak_mib_runs"] = [r["peak_mib"] for r in runs]
        c["seconds"] = statistics.median(r["seconds"] for r in runs)
        cells.append(c)
        label = f"{impl} {'adjoint' if adjoint else 'direct'}"
        print(
            f"  memory: {label:<20} {steps:>5} steps: peak {c['peak_mib']:.2f} MiB (median of "
            f"{', '.join(f'{p:.2f}' for p in c['peak_mib_runs'])}), graph saved by the forward pass "
            f"{c['graph_mib']:.2f} MiB ({c['seconds']:.2f} s)"
        )
    return cells


def plot_memory(cells: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    series = (
        ("scorekit", False, "scorekit, direct backpropagation"),
        ("scorekit", True, "scorekit adjoint"),
        ("torchdiffeq", True, "torchdiffeq odeint_adjoint"),
    )
    for impl, adjoint, label in series:
        points = sorted(
            (c["steps"], max(c["peak_mib"], 0.1)) for c in cells if c["adjoint"] == adjoint and c["impl"] == impl
        )
        ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("RK4 steps")
    ax.set_ylabel("peak memory of forward + backward (MiB)")
    ax.set_title(f"gradient memory vs number of steps (batch {cells[0]['batch']}, d = 2)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per side (default 9)")
    parser.add_argument("--memory-repeats", type=int, default=3, help="subprocesses per memory cell (default 3)")
    parser.add_argument("--only-memory", action="store_true", help="run only the memory part")
    parser.add_argument(
        "--memory-batch", type=int, default=BATCH_MEMORY, help=f"batch of the memory part (default {BATCH_MEMORY})"
    )
    parser.add_argument("--memory-cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # a Run keeps this count (train.threads = 0)
    if args.memory_cell:
        cell = json.loads(args.memory_cell)
        print(json.dumps(memory_cell(cell["steps"], cell["impl"], cell["adjoint"], cell["batch"])))
        return
    result: dict[str, Any] = {"threads": args.threads, "torch": torch.__version__}
    if args.only_memory:
        memory_part(result, args)
        return
    result["gradients"] = gradients()
    print(f"gradients (float64, tol 1e-9): {result['gradients']}")
    result["speed"] = []
    for dim in (2, 64):
        row = speed(dim, args.repeats)
        result["speed"].append(row)
        sec, nfe = row["seconds"], row["nfe"]
        print(
            f"d = {dim}: adjoint fwd+bwd median {sec['scorekit'] * 1e3:.1f} ms vs torchdiffeq "
            f"{sec['torchdiffeq'] * 1e3:.1f} ms (ratio {row['time_ratio']:.3f}); "
            f"NFE {nfe['scorekit']['nfe']} vs {nfe['torchdiffeq']['nfe']}; seminorm: "
            f"{sec['scorekit_seminorm'] * 1e3:.1f} ms vs {sec['torchdiffeq_seminorm'] * 1e3:.1f} ms, "
            f"backward NFE ratio {row['seminorm_backward_nfe_ratio']:.3f}"
        )
        print(f"  NFE detail: {row['nfe']}")
    memory_part(result, args)


def memory_part(result: dict[str, Any], args: argparse.Namespace) -> None:
    result["memory"] = memory(args.threads, args.memory_repeats, args.memory_batch)
    for impl in ("scorekit", "torchdiffeq"):
        peaks = {c["steps"]: c["peak_mib"] for c in result["memory"] if c["adjoint"] and c["impl"] == impl}
        result[f"{impl}_adjoint_memory_ratio_1000_over_10"] = peaks[1000] / peaks[10]
        print(f"{impl} adjoint peak memory 1000 / 10 steps: {peaks[1000] / peaks[10]:.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "ode_adjoint_memory.json" if args.only_memory else "ode_adjoint.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    plot_memory(result["memory"], RESULTS / "ode_memory.png")
    print(f"wrote {RESULTS / name} and {RESULTS / 'ode_memory.png'}")


if __name__ == "__main__":
    main()
