"""``scorekit eval``: sample quality against held-out data and score accuracy against the truth."""

from __future__ import annotations

from typing import Any

import torch

from scorekit.engine.run import Run
from scorekit.evaluation import mmd, mode_weight_error, relative_fisher_divergence

__all__ = ["evaluate"]


def evaluate(run: Run) -> dict[str, Any]:
    """Metrics of a trained run.

    - ``mmd``: unbiased squared MMD between samples and held-out data, in data space;
    - with a [likelihood]: ``heldout_log_likelihood``, the model's mean log-density over held-out
      points in data space (nats), and where the density is known the true one beside it and the gap;
    - where the data set's density is known: ``mode_weights`` of the samples and their largest
      deviation from the true weights, and for score models, for each trained σ, the relative Fisher divergence
      E‖s_θ(x̃, σ) − ∇log p_σ(x̃)‖² / E‖∇log p_σ(x̃)‖² over x̃ = x + σε, x held out; a run
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
    schedule = run.schedule
    if run.trained_model()[0].parametrization != "score":
        return result
    if schedule is None:
        # σ = 0 objectives (implicit, sliced score matching) learn the clean data's score.
        result["fisher"] = _fisher_per_sigma(run, [0.0], generator)
    elif schedule.sigma_conditioned:
        result["fisher"] = _fisher_per_sigma(run, schedule.levels().tolist(), generator)
    return result


def _fisher_per_sigma(run: Run, sigmas: list[float], generator: torch.Generator) -> list[dict[str, float]]:
    model, standardizer = run.trained_model()
    x0 = run.data.heldout[: run.config.eval.num_points]
    rows = []
    for sigma in sigmas:
        x = x0 + sigma * torch.randn(x0.shape, generator=generator)
        with torch.no_grad():
            predicted = model(x.to(run.device), torch.full((x.shape[0],), sigma, device=run.device)).cpu()
        sigma_data = standardizer.sigma_to_data(sigma)
        true = standardizer.score_to_model(run.density.score(standardizer.inverse(x).double(), sigma=sigma_data))
        rows.append(
            {
                "sigma": sigma_data,
                "relative_fisher": relative_fisher_divergence(predicted.double(), true.double()),
            }
        )
    return rows
