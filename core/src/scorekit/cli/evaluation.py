"""`scorekit eval`: the metrics of scorekit.engine.evaluate, printed with their baselines."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from scorekit._io import atomic_write_text
from scorekit.cli._common import _allow_nonfinite_option, _load_run, _set_option, cli
from scorekit.errors import ScorekitError


@cli.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (strict JSON: a NaN is null).")
@_allow_nonfinite_option
@_set_option("--set eval.num_samples=2000", run=True)
def eval_command(run_dir: Path, as_json: bool, allow_nonfinite: bool, overrides: tuple[str, ...]) -> None:
    """Evaluate a run's latest checkpoint, each metric beside its value on true data: MMD to held-out
    data; where the data set's density is known, mode weights and the relative Fisher divergence per
    noise level (beside a fitted Gaussian's); with a [likelihood], the held-out log-likelihood. Also
    written to RUN_DIR/eval.json."""
    from scorekit.engine.evaluate import evaluate

    run = _load_run(run_dir, overrides)
    with contextlib.redirect_stdout(sys.stderr):  # a component's print() cannot corrupt the JSON on stdout
        result = evaluate(run)
    bad = _non_finite_metrics(result)
    if bad and not allow_nonfinite:
        raise ScorekitError(
            f"the metrics {', '.join(bad)} are NaN or infinite (the model or sampler diverged); nothing written. "
            "Pass --allow-nonfinite to write them anyway (as null)"
        )
    text = json.dumps(_strict(result), indent=2, allow_nan=False)
    atomic_write_text(run_dir / "eval.json", text)
    if as_json:
        click.echo(text)
        return
    for line in _eval_lines(run_dir, result):
        click.echo(line)


def _non_finite_metrics(result: Any, path: str = "") -> list[str]:
    """The dotted paths of NaN or infinite numbers in ``result``."""
    if isinstance(result, float):
        return [] if math.isfinite(result) else [path]
    if isinstance(result, dict):
        return [p for key, value in result.items() for p in _non_finite_metrics(value, f"{path}.{key}".lstrip("."))]
    if isinstance(result, list):
        return [p for index, value in enumerate(result) for p in _non_finite_metrics(value, f"{path}[{index}]")]
    return []


def _strict(result: Any) -> Any:
    """``result`` with NaN and infinities as None, so that its JSON is strict (RFC 8259 has no NaN)."""
    if isinstance(result, float):
        return result if math.isfinite(result) else None
    if isinstance(result, dict):
        return {key: _strict(value) for key, value in result.items()}
    if isinstance(result, list):
        return [_strict(value) for value in result]
    return result


def _eval_lines(run_dir: Path, result: dict[str, Any]) -> list[str]:
    """``evaluate``'s result as text: one line per metric, its baseline and what the numbers mean."""
    kinds = " · ".join(result[k] for k in ("dataset", "model", "schedule", "sampler", "likelihood") if result.get(k))
    lines = [f"run {run_dir}, checkpoint step {result['checkpoint_step']} ({kinds})"]
    if result.get("non_finite_samples"):
        lines.append(
            f"non-finite samples: {result['non_finite_samples']} of {result['num_samples']} (the sampler diverged "
            "on them), left out of the sample metrics below"
        )
    if "mmd" in result:
        used = result["num_samples"] - result["non_finite_samples"]
        of = f" of {result['mmd_baseline_num_samples']}" if result["mmd_baseline_num_samples"] != used else ""
        lines.append(
            f"MMD² to held-out data: {result['mmd']:.3g} over {used} samples (two true samples{of}: "
            f"{result['mmd_baseline']:.3g}; unbiased, can be slightly negative; ≈ baseline means indistinguishable "
            "at this sample size)"
            + (
                f"; {result['sampler_evaluations']} model evaluations per sample"
                if result.get("sampler_evaluations")
                else ""
            )
        )
    if "mode_weights" in result:
        weights, true = result["mode_weights"], result["true_mode_weights"]
        truth = f"{true[0]:.3f} each" if len(set(true)) == 1 else ", ".join(f"{w:.3f}" for w in true)
        shares = ", ".join(f"{w:.3f}" for w in weights)
        lines.append(f"mode weights (share of samples per mode): {shares}; true {truth}")
        lines.append(
            f"mode-weight max error: {result['mode_weight_max_error']:.4f} (an exact draw of as many points: "
            f"{result['mode_weight_max_error_baseline']:.4f}, the sampling error alone)"
        )
    if "heldout_log_likelihood" in result:
        line = f"held-out log-likelihood: {result['heldout_log_likelihood']:.4f} nats"
        if "true_log_likelihood" in result:
            line += (
                f" (true density: {result['true_log_likelihood']:.4f}; gap {result['log_likelihood_gap']:.4f} "
                "≈ KL(data ‖ model), 0 is perfect)"
            )
        lines.append(line)
    if result.get("fisher"):
        lines.append(
            "relative Fisher divergence E‖s_θ − ∇log p_t‖² / E‖∇log p_t‖² per noise level, σ in data units "
            "(0: the exact score; 1: a zero score; beside it a Gaussian fitted to the data):"
        )
    for row in result.get("fisher", []):
        level = f"t = {row['t']:<6g} " if "t" in row else ""
        line = f"  {level}σ = {row['sigma']:<10.4g} model {row['relative_fisher']:<10.4g}"
        if "gaussian_relative_fisher" in row:
            line += f" Gaussian fit {row['gaussian_relative_fisher']:<10.4g}"
        if row["relative_fisher"] > 1:
            line += " worse than a zero score: the network does not resolve p_t at this level"
        lines.append(line.rstrip())
    return lines
