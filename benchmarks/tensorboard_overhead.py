"""The cost of train.tensorboard: the ncsn preset's training with the writer on and off, interleaved.

Issue 18 target: logging overhead with TensorBoard on ≤ 3% of training time at the default
``log_every`` (100). ``--steps`` steps of the ``ncsn`` preset (one thread), ``--repeats`` times each
way, alternating off/on so that a change in the machine's load hits both; the training loop's own
seconds (``TrainResult.seconds``) per run; reported: the medians and their ratio.

Run: python benchmarks/tensorboard_overhead.py [--steps 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import torch
from _presets import preset_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    seconds: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for on in (False, True):
                overrides = [f"train.steps={args.steps}", f"train.tensorboard={'true' if on else 'false'}"]
                run = preset_run("ncsn", overrides, Path(tmp) / f"{repeat}-{on}")
                seconds[on].append(run.train().seconds)
                print(f"repeat {repeat}, tensorboard {'on ' if on else 'off'}: {seconds[on][-1]:.2f} s", flush=True)
    off, on = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"median off {off:.2f} s, on {on:.2f} s: ratio {on / off:.3f} (target ≤ 1.03)")


if __name__ == "__main__":
    main()
