"""Training on a busy machine: the default preset alone and beside two other trainings, against a one-thread loop.

What it measures
    Seconds per 1000 training steps of the default preset (``ncsn``) in three sides, each a fresh
    process so that thread settings never leak between them:

    - ``scorekit``: the real command, ``python -m scorekit train --no-pictures --set train.steps=N``,
      with scorekit's thread policy (``train.threads = 0``: one thread) and the environment the
      command sets itself (``OMP_WAIT_POLICY=PASSIVE``); the time is the one the command prints for
      its training (``trained N steps … in X s``: ``Run.train`` from building the model and the
      optimizer to the last step, checkpoints included), so interpreter and plugin start-up are not
      counted;
    - ``hand``: a hand-written PyTorch loop doing the same work (``engine_overhead.HandLoop``: the
      same network, loss, batch, draws, Adam, cosine lr and EMA) with ``torch.set_num_threads(1)``,
      timed over the same span: from building the model and the optimizer to the last step. (The
      first ``torch.optim.Adam`` of a process imports ``torch._dynamo``, about 2 s here, in both.)
    - ``torch_default``: the command as it was before the policy: ``train.threads`` = the number of
      cores with OpenMP's spinning waits (``OMP_WAIT_POLICY=ACTIVE``), i.e. torch's own defaults.
      It runs fewer steps (``--steps-default``), since under load it is 10–20× slower.

    under three loads: ``alone``; ``scorekit``: two other trainings of the default preset by the
    command as it is now (a user's small sweep); ``torch_default``: two other trainings with torch's
    default threads (other multi-threaded torch jobs). The load processes train without end and are
    killed after the condition. Within a condition the sides are interleaved, the order rotated
    each repeat; figures are medians over repeats.

Targets (issue 13)
    beside two other trainings of the default preset, scorekit's training time ≤ 2.5× its time
    alone, and ≤ 1.2× the hand-written one-thread loop under the same load (both loads reported).

Run ``python benchmarks/contention.py`` (about 15 minutes on 2 cores; ``--quick`` about 5). Other
processes on the machine distort every figure: run it on an otherwise idle machine and say what
else ran. Writes ``benchmarks/results/contention.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "contention"
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_VS_ALONE = 2.5
TARGET_VS_HAND = 1.2
SIDES = ("scorekit", "hand", "torch_default")
LOADS = ("alone", "scorekit", "torch_default")
TRAINED = re.compile(r"trained (\d+) steps .* in ([0-9.]+) s")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def command_env(side: str) -> tuple[list[str], dict[str, str]]:
    """The `scorekit train` arguments and environment of a side (or of a load process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    args = [sys.executable, "-m", "scorekit", "train", "--no-pictures", "--set", "train.progress=false"]
    if side == "torch_default":
        env["OMP_WAIT_POLICY"] = "ACTIVE"
        args += ["--set", f"train.threads={_cores()}"]
    return args, env


def measure(side: str, steps: int) -> float:
    """Seconds of training for ``steps`` steps of one side, in a fresh process."""
    if side == "hand":
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(steps)], check=True, capture_output=True, text=True
        ).stdout
        return float(out.strip().splitlines()[-1])
    args, env = command_env(side)
    with tempfile.TemporaryDirectory(prefix="scorekit-contention-") as tmp:
        done = subprocess.run(
            [*args, "--set", f"train.steps={steps}", "--run-dir", str(Path(tmp) / "run")],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
    match = TRAINED.search(done.stdout)
    if match is None or int(match.group(1)) != steps:
        raise RuntimeError(f"unexpected output of scorekit train: {done.stdout!r} {done.stderr!r}")
    return float(match.group(2))


def worker(steps: int) -> None:
    """The hand-written loop (engine_overhead.HandLoop, with EMA and cosine lr), one thread."""
    import torch

    torch.set_num_threads(1)
    from engine_overhead import HandLoop, preset_config

    from scorekit._registry import load_registry
    from scorekit.engine.run import Run

    registry = load_registry()
    config = preset_config(registry, [f"train.steps={steps}", "train.progress=false", "train.device='cpu'"])
    with tempfile.TemporaryDirectory() as tmp:
        probe = Run(config, registry, Path(tmp))
        train, sigmas = probe.data.train, probe.schedule.levels()  # type: ignore[union-attr]
    start = time.perf_counter()
    HandLoop(config, train, sigmas, full=True).run()  # builds the model and optimizer, then trains
    print(time.perf_counter() - start)


def start_load(kind: str, root: Path) -> list[subprocess.Popen[bytes]]:
    if kind == "alone":
        return []
    processes = []
    for k in range(2):
        args, env = command_env(kind)
        processes.append(
            subprocess.Popen(
                [
                    *args,
                    "--set",
                    "train.steps=100000000",
                    "--set",
                    "train.checkpoint_every=100000000",
                    "--run-dir",
                    str(root / f"load-{kind}-{k}"),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(8)  # past their start-up, into training
    return processes


def stop_load(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        p.kill()
    for p in processes:
        p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="steps per measurement (scorekit, hand)")
    parser.add_argument("--steps-default", type=int, default=300, help="steps per measurement of torch_default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="--steps 600 --steps-default 150 --repeats 2")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    if args.quick:
        args.steps, args.steps_default, args.repeats = 600, 150, 2
    steps = {"scorekit": args.steps, "hand": args.steps, "torch_default": args.steps_default}
    per_1000: dict[str, dict[str, list[float]]] = {load: {side: [] for side in SIDES} for load in LOADS}
    with tempfile.TemporaryDirectory(prefix="scorekit-contention-load-") as tmp:
        for load in LOADS:
            processes = start_load(load, Path(tmp))
            try:
                for repeat in range(args.repeats):
                    order = SIDES[repeat % len(SIDES) :] + SIDES[: repeat % len(SIDES)]
                    for side in order:
                        per_step = measure(side, steps[side]) / steps[side]
                        per_1000[load][side].append(1000 * per_step)
                        print(f"load {load:13s} {side:13s} {1000 * per_step:7.2f} s per 1000 steps", flush=True)
            finally:
                stop_load(processes)
    medians = {load: {side: statistics.median(v) for side, v in sides.items()} for load, sides in per_1000.items()}
    alone = medians["alone"]["scorekit"]
    header = f"{'load':14s} {'scorekit':>9s} {'hand':>9s} {'torch def.':>10s}"
    print(f"\n{header}   s per 1000 steps, medians of {args.repeats}")
    for load in LOADS:
        m = medians[load]
        print(f"{load:14s} {m['scorekit']:9.2f} {m['hand']:9.2f} {m['torch_default']:10.2f}")
    checks = {}
    for load in ("scorekit", "torch_default"):
        m = medians[load]
        vs_alone, vs_hand = m["scorekit"] / alone, m["scorekit"] / m["hand"]
        checks[load] = {"vs_alone": vs_alone, "vs_hand": vs_hand}
        print(
            f"beside 2 trainings ({load} policy): scorekit {vs_alone:.2f}× its time alone (target ≤ {TARGET_VS_ALONE}) "
            f"{'PASS' if vs_alone <= TARGET_VS_ALONE else 'FAIL'}; {vs_hand:.2f}× the one-thread hand loop "
            f"(target ≤ {TARGET_VS_HAND}) {'PASS' if vs_hand <= TARGET_VS_HAND else 'FAIL'}; torch's defaults "
            f"{m['torch_default'] / medians['alone']['torch_default']:.1f}× their time alone"
        )
    RESULTS.mkdir(exist_ok=True)
    record: dict[str, Any] = {
        "steps": steps,
        "repeats": args.repeats,
        "cores": _cores(),
        "seconds_per_1000_steps": per_1000,
        "medians": medians,
        "checks": checks,
    }
    (RESULTS / f"{NAME}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
