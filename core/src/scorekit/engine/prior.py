"""Does a sampler's starting distribution fit the data? A check the engine runs before sampling.

Samplers of a kernel x_t = a(t)·x₀ + s(t)·ε that transport their start (reverse SDE, ODE,
ancestral) begin at the noisiest level t₁ from a fixed N(0, std²I) (``Sampler.prior_std``;
√(a₁² + s₁²) for most), which is the true marginal p_t₁ only for data of zero mean and unit
variance per coordinate — what the run's standardization provides. On raw data the start is off,
and the sampler does not recover: a mixture's modes come out with the wrong weights, silently.
The marginal's moments are known from the data, so the mismatch is measured before sampling, as
the KL divergence between the Gaussians with p_t₁'s moments and the start,

    KL = Σ_d ½[(v_d + m_d²)/std² − 1 − log(v_d/std²)],   m_d = a₁·mean_d,  v_d = a₁²·var_d + s₁²,

which is 0 exactly when the moments agree.
"""

from __future__ import annotations

import math

import torch

from scorekit.interfaces import NoiseSchedule, Sampler

__all__ = ["PRIOR_KL_TOLERANCE", "PriorMismatchWarning", "prior_mismatch"]

#: The KL (nats, summed over coordinates) above which the start is reported as not fitting the data.
#: Calibrated with exact scores and the reverse SDE (docs/user-guide.md, "Samplers' starting
#: distribution"): on a two-mode mixture (weights 0.2/0.8) under a VE kernel, σ_max = 4, a mode
#: weight's error grew as ≈ 0.18·√KL (0.028 at KL 0.022, 0.16 at 0.77); raw eight_gaussians under
#: NCSN's σ_max = 8 has KL 0.0056 from its variance alone and unbiased weights.
PRIOR_KL_TOLERANCE = 0.01


class PriorMismatchWarning(UserWarning):
    """A sampler starts from a distribution far from its model's noisiest marginal on this data."""


def prior_mismatch(sampler: Sampler, schedule: NoiseSchedule | None, data: torch.Tensor) -> str | None:
    """A one-line explanation if ``sampler``'s start does not fit ``data`` (model space, (N, *event)); else None."""
    if schedule is None or data.shape[0] < 2:
        return None
    std = sampler.prior_std(schedule)
    if std is None or not math.isfinite(std) or std <= 0:
        return None
    first = schedule.levels()[:1].double()
    a, s = (float(v) for v in schedule.kernel(first))
    flat = data.reshape(data.shape[0], -1).double()
    mean, var = flat.mean(0), flat.var(0)
    m, v = a * mean, a * a * var + s * s
    ratio = v / std**2
    kl = float(0.5 * ((ratio + m.square() / std**2) - 1 - ratio.log()).sum())
    if kl <= PRIOR_KL_TOLERANCE:
        return None
    worst = int((0.5 * (ratio + m.square() / std**2 - 1 - ratio.log())).argmax())
    return (
        f"{type(sampler).__name__} starts from N(0, {std:.3g}²I) but on this data the noisiest marginal has "
        f"mean {float(m[worst]):.3g} and std {math.sqrt(float(v[worst])):.3g} (coordinate {worst}; KL {kl:.3g} nats "
        f"over {flat.shape[1]} coordinates): samples will be biased. Standardize the data "
        '(data.standardize = "scalar") or widen the schedule\'s largest noise level'
    )
