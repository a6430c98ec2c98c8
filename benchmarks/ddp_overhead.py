"""DDP on CPU: per-step time of 2 processes against 1 at the same per-process batch.

Target (issue 3): with torchrun's 2 processes (gloo) each training on a batch of B, the time per
step is within 1.3× of one process training on B (median), and the loss after the same number of
steps agrees with the single-process run at the same global batch.

How: the default preset's network and loss (NCSN MLP 128×3, 10 σ levels), at the preset's
B = 512 per process and at B = 4096 (where computation outweighs gloo's all-reduce latency), run
as real `scorekit train` subprocesses; per-step time is the median over the logged 100-step
windows (`steps_per_second` in metrics.jsonl, first window dropped as warm-up). Each process gets
one thread (torchrun sets OMP_NUM_THREADS=1 for its workers; the single-process run is given the
same), so the comparison is per process at equal resources. The runs alternate (1, 2, 1, 2, …) to
cancel drift. A third run, one process with the global batch 2B, is the reference for the loss.

    python benchmarks/ddp_overhead.py [--repeats 2] [--batches 512 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(run_dir: Path, batch: int, steps: int, nproc: int) -> list[dict[str, float]]:
    overrides = [
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        "train.log_every=100",
        f"train.checkpoint_every={steps}",
        "sample.num=10",
        "sampler.steps_per_level=1",
        "train.progress=false",
    ]
    command = [sys.executable, "-m", "scorekit", "train", "--run-dir", str(run_dir), "--nproc", str(nproc)]
    command += [f"--set={o}" for o in overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, capture_output=True, env=env)
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def step_ms(records: list[dict[str, float]]) -> float:
    return statistics.median(1000.0 / r["steps_per_second"] for r in records[1:])


def measure(batch: int, steps: int, repeats: int) -> dict[str, object]:
    single, double, losses = [], [], {"1 process, batch B": [], "2 processes, B each": [], "1 process, 2B": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            one = run(Path(tmp) / f"one-{repeat}", batch, steps, 1)
            two = run(Path(tmp) / f"two-{repeat}", 2 * batch, steps, 2)
            big = run(Path(tmp) / f"big-{repeat}", 2 * batch, steps, 1)
            single.append(step_ms(one))
            double.append(step_ms(two))
            for key, records in zip(losses, (one, two, big), strict=True):
                losses[key].append(statistics.fmean(r["loss"] for r in records[-3:]))
    a, b = statistics.median(single), statistics.median(double)
    print(f"per-process batch {batch}, {steps} steps, {repeats} repeats")
    print(f"  1 process            {a:7.3f} ms/step  {[round(v, 3) for v in single]}")
    print(f"  2 processes (DDP)    {b:7.3f} ms/step  {[round(v, 3) for v in double]}")
    print(f"  ratio {b / a:.3f}; target ≤ 1.3: {'PASS' if b / a <= 1.3 else 'FAIL'}")
    print("  loss over the last 300 steps (median of repeats):")
    for key, values in losses.items():
        print(f"    {key:22s} {statistics.median(values):.4f}")
    return {
        "batch_per_process": batch,
        "steps": steps,
        "single_ms_per_step": single,
        "ddp_ms_per_step": double,
        "ratio": b / a,
        "pass": b / a <= 1.3,
        "final_loss": {k: statistics.median(v) for k, v in losses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 4096], help="per-process batches")
    args = parser.parse_args()
    print("DDP overhead (gloo, CPU, one thread per process)")
    # Fewer steps at larger batches keep each run near 5 s; the windows are 100 steps either way.
    results = [measure(batch, max(400, 1500 * 512 // batch), args.repeats) for batch in args.batches]
    out = Path(__file__).parent / "results" / "ddp_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
