"""``scorekit eval``: sample quality against held-out data and score accuracy against the truth."""

from __future__ import annotations

from typing import Any

import torch

from scorekit.engine.run import Run
from scorekit.evaluation import kernel_score, mmd, mode_weight_error, relative_fisher_divergence
from scorekit.interfaces import ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, as_parametrization

__all__ = ["evaluate"]

#: Levels at which a long schedule (a diffusion's T steps) is measured.
MAX_FISHER_LEVELS = 10


def evaluate(run: Run) -> dict[str, Any]:
    """Metrics of a trained run.

    - ``mmd``: unbiased squared MMD between samples and held-out data, in data space;
    - with a [likelihood]: ``heldout_log_likelihood``, the model's mean log-density over held-out
      points in data space (nats), and where the density is known the true one beside it and the gap;
    - where the data set's density is known: ``mode_weights`` of the samples and their largest
      deviation from the true weights, and for models of a kernel quantity (score, ε, x₀, v; seen as
      a score), for each trained level t, the relative Fisher divergence
      E‖s_θ(x_t, t) − ∇log p_t(x_t)‖² / E‖∇log p_t(x_t)‖² over x_t = a(t)·x + s(t)·ε, x held out
      (at most ten levels, evenly spaced, for long schedules); ``sigma`` is s/a in data units. A run
      without a schedule (a σ = 0 objective) is measured at σ = 0.
    """
    config = run.config.eval
    data = run.data
    result: dict[str, Any] = {"dataset": run.config.data.kind}
    generator = torch.Generator().manual_seed(config.seed)
    if run.sampler is not None:
        samples = run.sample(config.num_samples, seed=config.seed)
        heldout = data.standardizer.inverse(data.heldout)
        result["num_samples"] = config.num_samples
        result["mmd"] = mmd(samples.flatten(1), heldout.flatten(1), generator=generator)
        result["non_finite_samples"] = int((~torch.isfinite(samples.flatten(1))).any(dim=1).sum())
    density = run.density
    if run.likelihood is not None:
        heldout = data.standardizer.inverse(data.heldout[: config.num_points])
        result["heldout_log_likelihood"] = float(run.log_prob(heldout, seed=config.seed).mean())
        if density is not None:
            truth = float(density.log_prob(heldout.double()).mean())
            result["true_log_likelihood"] = truth
            result["log_likelihood_gap"] = truth - result["heldout_log_likelihood"]
    if density is None:
        return result
    if run.sampler is not None:
        finite = samples[torch.isfinite(samples.flatten(1)).all(dim=1)]
        weights = density.mode_weights(finite)
        true_weights = density.weights.to(weights.dtype)
        result["mode_weights"] = [float(w) for w in weights]
        result["mode_weight_max_error"] = mode_weight_error(weights, true_weights)
    model, _ = run.trained_model()
    if model.parametrization not in KERNEL_PARAMETRIZATIONS:
        return result
    schedule = run.schedule
    if schedule is None:
        # σ = 0 objectives (implicit, sliced score matching) learn the clean data's score.
        result["fisher"] = _fisher_per_level(run, model, [0.0], generator)
    else:
        levels = schedule.levels()
        if len(levels) > MAX_FISHER_LEVELS:  # a diffusion's 1000 steps: an even subset, both ends kept
            picks = torch.linspace(0, len(levels) - 1, MAX_FISHER_LEVELS).round().long()
            levels = levels[picks]
        result["fisher"] = _fisher_per_level(run, model, levels.tolist(), generator)
    return result


def _fisher_per_level(
    run: Run, model: ScoreModel, levels: list[float], generator: torch.Generator
) -> list[dict[str, float]]:
    """Relative Fisher divergence at each level t, x_t = a(t)·x₀ + s(t)·ε with x₀ held out.

    p_t is the data density scaled by a and convolved with N(0, s²I), whose score is
    :func:`scorekit.evaluation.kernel_score`.
    """
    schedule = run.schedule
    standardizer = run.data.standardizer
    score_model = as_parametrization(model, "score", schedule)
    x0 = run.data.heldout[: run.config.eval.num_points]
    rows = []
    for level in levels:
        t = torch.full((x0.shape[0],), level)
        a, s = schedule.kernel(t) if schedule is not None else (torch.ones_like(t), torch.zeros_like(t))
        a_, s_ = float(a[0]), float(s[0])
        x = a_ * x0 + s_ * torch.randn(x0.shape, generator=generator)
        with torch.no_grad():
            predicted = score_model(x.to(run.device), t.to(run.device)).cpu()
        sigma_data = standardizer.sigma_to_data(s_ / a_)
        # In data units the model's x_t is a·x₀ + (scale·s)·ε, at the point a·inverse(x_t/a).
        x_data = a_ * standardizer.inverse(x / a_).double()
        true = standardizer.score_to_model(kernel_score(run.density, x_data, a_, a_ * sigma_data))
        row = {"sigma": sigma_data, "relative_fisher": relative_fisher_divergence(predicted.double(), true.double())}
        if schedule is not None and not schedule.sigma_conditioned:
            row = {"t": level, **row}
        rows.append(row)
    return rows
