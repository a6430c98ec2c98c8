"""A trained class-conditional NCSN on eight_gaussians: per-class samples and the unconditional path.

Issue 17, 2-D target. The ``ncsn`` preset (8,000 steps, annealed Langevin, 1,001 NFE) with
``model.classes = 8`` (labels: the mixture's components) and ``train.label_dropout`` (``--dropout``,
0.1 by default), trained
here (or ``--run-dir``). Measured, seed 0:

- per class, w = 0: ``--num`` samples split evenly over the 8 labels; for each label the share of
  its samples whose nearest component (``GaussianMixture.assign``) is the requested one
  (target ≥ 0.97 for every class);
- the unconditional path: ``--num`` samples under the null label (``Run.sample(unconditional=True)``,
  the score learned from the dropped labels); the largest |mode weight − 1/8| (target: the
  unconditional preset's, ≤ 0.015), and the same for labels drawn with their training frequencies.

Writes benchmarks/results/conditional_2d.json and docs/img/conditional_2d.png.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from _presets import preset_run, timed_train

from scorekit.engine.run import load

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--dropout", type=float, default=0.1, help="train.label_dropout (p_uncond)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    result: dict[str, Any] = {"num": args.num, "label_dropout": args.dropout}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir
        if run_dir is None:
            run_dir = Path(tmp) / "run"
            overrides = ["model.classes=8", f"train.label_dropout={args.dropout}"]
            result["train_seconds"] = timed_train(preset_run("ncsn", overrides, run_dir))
            print(f"trained in {result['train_seconds']:.0f} s", flush=True)
        run = load(run_dir)
        run.progress = False
        density = run.density
        labels = torch.arange(args.num) % 8
        conditional = run.sample(args.num, seed=0, label=labels)
        hits = density.assign(conditional) == labels
        per_class = [float(hits[labels == k].float().mean()) for k in range(8)]
        null = run.sample(args.num, seed=1, unconditional=True)
        drawn = run.sample(args.num, seed=2)
        result.update(
            per_class_on_requested_mode=per_class,
            null_label_mode_weights=density.mode_weights(null).tolist(),
            null_label_max_error=float((density.mode_weights(null) - 1 / 8).abs().max()),
            drawn_labels_max_error=float((density.mode_weights(drawn) - 1 / 8).abs().max()),
        )
        result["pass"] = min(per_class) >= 0.97 and result["null_label_max_error"] <= 0.015
    print(
        f"per class on the requested mode: {' '.join(f'{p:.3f}' for p in per_class)} (min {min(per_class):.3f}, "
        f"target ≥ 0.97)\nnull label: max |weight − 1/8| {result['null_label_max_error']:.4f} (target ≤ 0.015); "
        f"labels drawn with their frequencies: {result['drawn_labels_max_error']:.4f}\n"
        f"{'PASS' if result['pass'] else 'FAIL'}"
    )
    out = ROOT / "benchmarks" / "results" / "conditional_2d.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot(conditional, labels, null, ROOT / "docs" / "img" / "conditional_2d.png")


def plot(conditional: torch.Tensor, labels: torch.Tensor, null: torch.Tensor, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
    axes[0].scatter(conditional[:, 0], conditional[:, 1], c=labels, cmap="tab10", s=2)
    axes[0].set_title("label k requested (colour = k), w = 0")
    axes[1].scatter(null[:, 0], null[:, 1], s=2, color="gray")
    axes[1].set_title("null label: the learned unconditional score")
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_xlim(-6, 6)
        ax.set_ylim(-6, 6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
