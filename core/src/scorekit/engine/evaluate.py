"""``scorekit eval``: sample quality against held-out data and score accuracy against the truth, each
beside a baseline (two true samples, an exact draw, a fitted Gaussian's score)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from scorekit.condition import Condition, Conditioned
from scorekit.engine.progress import Progress
from scorekit.engine.run import Run
from scorekit.evaluation import (
    by_class,
    gaussian_fit,
    gaussian_kernel_score,
    kernel_score,
    mmd,
    mode_weight_error,
    relative_fisher_divergence,
)
from scorekit.interfaces import ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, as_parametrization

__all__ = ["evaluate"]

#: Levels at which a long schedule (a diffusion's T steps) is measured.
MAX_FISHER_LEVELS = 10


def evaluate(run: Run) -> dict[str, Any]:
    """Metrics of a run's latest checkpoint, each beside a baseline computed the same way on true data.

    - ``checkpoint_step`` evaluated and the kinds of the run's ``model``, ``schedule``, ``sampler``
      and ``likelihood`` (None where the run has none);
    - ``mmd``: unbiased squared MMD between the finite samples and held-out data, in data space;
      ``mmd_baseline``: the same estimate (median-heuristic bandwidths, subsampling, seed) between a
      random subset of the training data of the same size (``mmd_baseline_num_samples``, fewer only
      when the training set is smaller) and the same held-out data: what two true samples score;
      ``non_finite_samples`` counts the samples left out of every metric;
    - with a [likelihood]: ``heldout_log_likelihood``, the model's mean log-density over held-out
      points in data space (nats), and where the density is known the true one beside it and the gap;
    - where the data set's density is known and has at least two modes: ``mode_weights``, the share
      of the samples assigned to each mode (its most likely component), ``true_mode_weights``,
      ``mode_weight_max_error``, the largest deviation between the two, and
      ``mode_weight_max_error_baseline``, that of an exact draw of as many points from the density;
    - where the density is known, for models of a kernel quantity (score, ε, x₀, v; seen as a
      score), for each trained level t, the relative Fisher divergence
      E‖s_θ(x_t, t) − ∇log p_t(x_t)‖² / E‖∇log p_t(x_t)‖² over x_t = a(t)·x + s(t)·ε, x held out
      (at most ten levels, evenly spaced, for long schedules), and ``gaussian_relative_fisher``,
      that of the Gaussian fitted to x (:func:`scorekit.evaluation.gaussian_kernel_score`): below
      it the network learned more than the data's mean and covariance; the zero score gets 1.
      ``sigma`` is s/a in data units. A run without a schedule (a σ = 0 objective) is measured at σ = 0.
    """
    config = run.config.eval
    data = run.data
    result: dict[str, Any] = {"dataset": run.config.data.name, "checkpoint_step": run.checkpoint().step}
    for name in ("model", "schedule", "sampler", "likelihood"):
        component = getattr(run.config, name)
        result[name] = None if component is None else component.name
    generator = torch.Generator().manual_seed(config.seed)
    finite = None
    if run.sampler is not None:
        samples = run.sample(config.num_samples, seed=config.seed).flatten(1)
        result["sampler_evaluations"] = run.last_sampling.nfe if run.last_sampling else None
        finite = samples[torch.isfinite(samples).all(dim=1)]
        heldout = data.standardizer.inverse(data.heldout).flatten(1)
        result["num_samples"] = config.num_samples
        result["non_finite_samples"] = samples.shape[0] - finite.shape[0]
        if finite.shape[0] >= 2:
            # A few seconds per estimate at 5000 points: progress per block of kernel rows.
            with Progress("eval", unit="kernel blocks", enabled=run.progress) as report:
                report.set_note("MMD² of the samples")
                result["mmd"] = mmd(finite, heldout, generator=generator, progress=report.update)
                # Its own generator, seeded alike, so the model's numbers stay those of earlier versions.
                baseline_generator = torch.Generator().manual_seed(config.seed)
                picks = torch.randperm(data.train.shape[0], generator=baseline_generator)[: finite.shape[0]]
                train = data.standardizer.inverse(data.train[picks]).flatten(1)
                report.set_note("MMD² of two true samples")
                result["mmd_baseline"] = mmd(train, heldout, generator=baseline_generator, progress=report.update)
                result["mmd_baseline_num_samples"] = train.shape[0]
    density = run.density
    model, _ = run.trained_model()
    # A class-conditional model is measured on p(x ∣ y), y the held-out points' labels; for a mixture,
    # whose labels are its components, the truth is then component y's density.
    labels = None
    if model.num_classes and data.heldout_labels is not None:
        labels = data.heldout_labels[: config.num_points]
    if labels is not None:
        result["conditioned_on"] = "held-out labels"
    if run.likelihood is not None:
        heldout = data.standardizer.inverse(data.heldout[: config.num_points])
        log_p = run.log_prob(heldout, seed=config.seed, label=labels)
        result["heldout_log_likelihood"] = float(log_p.mean())
        if density is not None:
            truth = float(by_class(density, labels, heldout, lambda d, rows: d.log_prob(heldout[rows].double())).mean())
            result["true_log_likelihood"] = truth
            result["log_likelihood_gap"] = truth - result["heldout_log_likelihood"]
    if density is None:
        return result
    # A single mode holds every sample whatever the sampler does: its weight would say nothing.
    if finite is not None and finite.shape[0] > 0 and density.num_components > 1:
        weights = density.mode_weights(finite)
        exact = density.sample(finite.shape[0], generator=torch.Generator().manual_seed(config.seed))
        result["mode_weights"] = [float(w) for w in weights]
        result["true_mode_weights"] = density.weights.tolist()
        result["mode_weight_max_error"] = mode_weight_error(weights, density.weights)
        result["mode_weight_max_error_baseline"] = mode_weight_error(density.mode_weights(exact), density.weights)
    if model.parametrization not in KERNEL_PARAMETRIZATIONS:
        return result
    schedule = run.schedule
    if schedule is None:
        # σ = 0 objectives (implicit, sliced score matching) learn the clean data's score.
        result["fisher"] = _fisher_per_level(run, model, [0.0], labels, generator)
    else:
        levels = schedule.levels()
        if len(levels) > MAX_FISHER_LEVELS:  # a diffusion's 1000 steps: an even subset, both ends kept
            picks = torch.linspace(0, len(levels) - 1, MAX_FISHER_LEVELS).round().long()
            levels = levels[picks]
        result["fisher"] = _fisher_per_level(run, model, levels.tolist(), labels, generator)
    return result


def _fisher_per_level(
    run: Run, model: ScoreModel, levels: list[float], labels: torch.Tensor | None, generator: torch.Generator
) -> list[dict[str, float]]:
    """Relative Fisher divergence at each level t, x_t = a(t)·x₀ + s(t)·ε with x₀ held out, of the
    model and of the Gaussian fitted to x₀.

    p_t is the data density scaled by a and convolved with N(0, s²I), whose score is
    :func:`scorekit.evaluation.kernel_score`. The Gaussian N(μ, Σ) is fitted in model space, where
    the kernel acts, so its p_t is N(a·μ, a²Σ + s²I).
    """
    if labels is not None:
        model = Conditioned(model, Condition(labels).to(run.device))
    score_model = as_parametrization(model, "score", run.schedule)
    x0 = run.data.heldout[: run.config.eval.num_points]
    mean, covariance = gaussian_fit(x0)
    rows = []
    with Progress("eval", len(levels), unit="levels", enabled=run.progress) as report:
        report.set_note("relative Fisher divergence")
        for level in levels:
            rows.append(_fisher_row(run, score_model, level, x0, labels, mean, covariance, generator))
            report.update()
    return rows


def _fisher_row(
    run: Run,
    score_model: ScoreModel,
    level: float,
    x0: torch.Tensor,
    labels: torch.Tensor | None,
    mean: torch.Tensor,
    covariance: torch.Tensor,
    generator: torch.Generator,
) -> dict[str, float]:
    """One row of :func:`_fisher_per_level`."""
    schedule, standardizer = run.schedule, run.data.standardizer
    t = torch.full((x0.shape[0],), level)
    a, s = schedule.kernel(t) if schedule is not None else (torch.ones_like(t), torch.zeros_like(t))
    a_, s_ = float(a[0]), float(s[0])
    x = a_ * x0 + s_ * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():
        predicted = score_model(x.to(run.device), t.to(run.device)).cpu()
    sigma_data = standardizer.sigma_to_data(s_ / a_)
    # In data units the model's x_t is a·x₀ + (scale·s)·ε, at the point a·inverse(x_t/a).
    x_data = a_ * standardizer.inverse(x / a_).double()
    truth = by_class(run.density, labels, x_data, lambda d, rows: kernel_score(d, x_data[rows], a_, a_ * sigma_data))
    true = standardizer.score_to_model(truth)
    row = {"sigma": sigma_data, "relative_fisher": relative_fisher_divergence(predicted.double(), true.double())}
    # At s = 0 a covariance fitted to ≤ d points is singular: the Gaussian then has no score.
    with contextlib.suppress(torch.linalg.LinAlgError):
        gaussian = gaussian_kernel_score(x.double(), mean, covariance, a_, s_)
        row["gaussian_relative_fisher"] = relative_fisher_divergence(gaussian, true.double())
    if schedule is not None and not schedule.sigma_conditioned:
        row = {"t": level, **row}
    return row
