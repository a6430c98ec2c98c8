"""What a trained run answers about given points: log-densities, scores, encodings, edits.

A mixin of :class:`scorekit.engine.run.Run` (kept apart so that each module stays short): every
method reads the latest checkpoint through ``Run.trained_model``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from scorekit.condition import Conditioned
from scorekit.config import RunConfig
from scorekit.data.sources import DataBundle
from scorekit.data.standardize import Standardizer
from scorekit.engine.contracts import blame, check_returned
from scorekit.engine.inputs import as_points, condition_of, observed_of
from scorekit.engine.progress import Progress
from scorekit.engine.sampling import CountedModel
from scorekit.errors import ConfigError, OutOfRangeError, UserError
from scorekit.imputation import Observation
from scorekit.interfaces import Likelihood, NoiseSchedule, Sampler, ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, as_parametrization, view_for

__all__ = ["PointQueries"]


class PointQueries:
    """Run's methods on given points (a mixin; the attributes below are Run's)."""

    config: RunConfig
    device: torch.device
    progress: bool
    schedule: NoiseSchedule | None
    sampler: Sampler | None
    likelihood: Likelihood | None

    def trained_model(self, *, use_ema: bool = True) -> tuple[ScoreModel, Standardizer]:
        raise NotImplementedError

    def require_sampler(self) -> Sampler:
        raise NotImplementedError

    def sample(
        self,
        num: int,
        *,
        seed: int | None = None,
        callback: Any = None,
        label: Any = None,
        start: Any = None,
        t_start: float | None = None,
        guidance: float | None = None,
        observation: Observation | None = None,
        unconditional: bool = False,
    ) -> torch.Tensor:
        raise NotImplementedError

    def learned_null_label(self) -> bool:
        raise NotImplementedError

    @property
    def data(self) -> DataBundle:
        raise NotImplementedError

    def impute(
        self,
        observed: Any,
        mask: Any,
        *,
        num: int | None = None,
        method: str = "guidance",
        seed: int | None = None,
        label: Any = None,
        guidance: float | None = None,
        callback: Any = None,
    ) -> torch.Tensor:
        """Completions of ``observed`` (data space, (N, *event) or one point) where ``mask`` is 0.

        ``mask``: 1 where the value is known, 0 where it is to be drawn; ``observed``'s shape or one
        point's (the same mask for every row). One completion per row, or, for a single point,
        ``num`` completions of it (default 1). Any sampler of the run draws them, through the view
        ``method`` names (:mod:`scorekit.imputation`: ``replace``, the baseline; ``guidance``, for any
        sampler; ``annealed``, exact in the limit for annealed Langevin and Langevin correctors).
        ``label`` and ``guidance`` as in :meth:`sample`; a class-conditional run trained with label
        dropout imputes under the null label when no label is given (p(x), not a random class).
        Returns data-space samples, (num, *event), whose known values are the observed ones.
        """
        model, standardizer = self.trained_model(use_ema=self.config.sample.use_ema)
        if self.schedule is None:
            raise ConfigError("imputation needs a run with a [schedule]: the kernel that noises the known values")
        values, known, one = observed_of(observed, mask, model.event_shape)
        if num is not None and not (isinstance(num, int) and 1 <= num <= 10**7):
            raise UserError(f"num must be a whole number of samples in [1, 10,000,000], got {num!r}")
        if one:
            count = 1 if num is None else num
            values, known = values.expand(count, *values.shape[1:]), known.expand(count, *known.shape[1:])
        elif num is not None and num != values.shape[0]:
            raise UserError(f"num ({num}) must equal the number of observed rows ({values.shape[0]}), or be left out")
        observation = Observation(standardizer.forward(values), known, method, self._data_variance())
        null = label is None and model.num_classes > 0 and self.learned_null_label()
        return self.sample(
            values.shape[0],
            seed=seed,
            callback=callback,
            label=label,
            guidance=guidance,
            observation=observation,
            unconditional=null,
        )

    def _data_variance(self) -> float:
        """The training data's mean per-coordinate variance in model space (1 when they cannot be read)."""
        try:
            train = self.data.train
        except UserError:
            return 1.0
        variance = float(train.reshape(train.shape[0], -1).double().var(dim=0).mean()) if train.shape[0] > 1 else 1.0
        return variance if math.isfinite(variance) and variance > 0 else 1.0

    def encode(self, x: Any, *, label: Any = None, chunk_size: int = 4096) -> torch.Tensor:
        """The x_T (model space, float32 (N, *event)) from which the run's deterministic sampler returns the
        data-space points ``x``: ``run.sample(len(x), start=run.encode(x))`` reconstructs x up to the
        sampler's discretization (and its final denoising step, if on). For ``probability_flow``
        (the ODE solved from eps to T), ``ddim`` with ``eta = 0`` (DDIM inversion) and ``cnf``;
        other samplers raise ConfigError. A class-conditional run needs ``label``."""
        sampler = self.require_sampler()
        model, standardizer = self.trained_model(use_ema=self.config.sample.use_ema)
        if not sampler.can_encode():
            sampler.encode(model, torch.zeros(0), schedule=self.schedule)  # raises: which samplers can
        x, one = as_points(x, model.event_shape)
        condition = condition_of(model, label, x.shape[0])
        conditioned = Conditioned(model) if condition is not None else None
        view = view_for(conditioned if conditioned is not None else model, sampler, self.schedule)
        pieces = []
        with torch.no_grad():
            for index, chunk in enumerate(torch.split(standardizer.forward(x), chunk_size)):
                if conditioned is not None and condition is not None:
                    rows = slice(index * chunk_size, index * chunk_size + chunk.shape[0])
                    conditioned.condition = condition.rows(rows).to(self.device)
                pieces.append(sampler.encode(view, chunk.to(self.device), schedule=self.schedule).cpu())
        z = torch.cat(pieces)
        return z[0] if one else z

    def edit(self, x: Any, t: float, *, seed: int | None = None, label: Any = None) -> torch.Tensor:
        """SDEdit (Meng et al. 2022): the data-space points or images ``x`` noised to level ``t`` (the
        schedule's t; for σ schedules σ in model units) by the kernel, x_t = a(t)·x + s(t)·ε, then
        denoised by the run's sampler from t. Small t keeps x nearly as it is; t at the top of the
        range forgets it. Returns data-space samples of x's shape."""
        if self.schedule is None:
            raise ConfigError("edit needs a run with a [schedule]: it noises the input by the schedule's kernel")
        model, standardizer = self.trained_model(use_ema=self.config.sample.use_ema)
        points, one = as_points(x, model.event_shape)
        seed = self.config.sample.seed if seed is None else seed
        time = torch.full((points.shape[0],), float(t), dtype=torch.float64)
        if not math.isfinite(float(t)):
            raise UserError(f"t must be a finite number, got {t}")
        noisy, _ = self.schedule.perturb(
            standardizer.forward(points).double(), time, generator=torch.Generator().manual_seed(seed)
        )
        out = self.sample(points.shape[0], seed=seed, label=label, start=noisy.float(), t_start=float(t))
        return out[0] if one else out

    def log_prob(self, x: Any, *, chunk_size: int = 4096, seed: int = 0, label: Any = None) -> torch.Tensor:
        """The trained model's log-density at data-space points ``x`` (N, *event), in data space: (N,) float64.

        ``x`` may be one point (*event), then the result is a 0-dim tensor; a tensor or a NumPy array.
        A class-conditional run needs ``label`` (one class, or one per point): log p(x ∣ label).

        The model sees y = (x − mean)/scale, so log p_data(x) = log p_model(y) − Σᵢ log scaleᵢ.
        Points go through in chunks of ``chunk_size``; an adaptive solver picks its steps per chunk.
        """
        if self.likelihood is None:
            raise ConfigError(
                "the run has no [likelihood] section; add one, or pass --set likelihood.kind=NAME "
                '("probability_flow" for score and diffusion models, plugin sde; "cnf" for flows) @ $.likelihood'
            )
        model, standardizer = self.trained_model()
        x, one = as_points(x, model.event_shape)
        condition = condition_of(model, label, x.shape[0])
        generator = torch.Generator(device=self.device).manual_seed(seed)
        log_det = -sum(math.log(s) for s in standardizer.scale)
        pieces = []
        chunks = torch.split(standardizer.forward(x.to(torch.float32)), chunk_size)
        conditioned = None
        if condition is not None:
            model = conditioned = Conditioned(model, consumer=f"the likelihood {type(self.likelihood).__name__}")
        # An adaptive solver's evaluations are not known in advance: the count is the progress.
        with Progress("log p", unit="evaluations", enabled=self.progress) as progress:
            counted = CountedModel(view_for(model, self.likelihood, self.schedule), progress.update)
            for index, chunk in enumerate(chunks):
                progress.set_note(f"chunk {index + 1}/{len(chunks)}, {x.shape[0]} points")
                if conditioned is not None and condition is not None:
                    start = index * chunk_size
                    conditioned.condition = condition.rows(slice(start, start + chunk.shape[0])).to(self.device)
                who = f"the likelihood {type(self.likelihood).__name__}"
                with blame(who):
                    log_p = self.likelihood.log_prob(
                        counted, chunk.to(self.device), schedule=self.schedule, generator=generator
                    )
                check_returned(log_p, who, "log-densities", (chunk.shape[0],))
                pieces.append(log_p.detach().cpu().double() + log_det)
        log_p = torch.cat(pieces)
        return log_p[0] if one else log_p

    def score(self, x: Any, sigma: float | None = None, *, label: Any = None) -> tuple[torch.Tensor, float]:
        """The trained score at data-space points for data-space noise level σ; returns (score, σ).

        ``x``: points (N, d) or one point (d,), a tensor or a NumPy array of any real dtype; the
        score has the same shape (float32). σ = None: the smallest trained level. A class-conditional
        run needs ``label`` (one class, or one per point): the score of p(x ∣ label).

        Runs without a schedule (σ = 0 objectives such as implicit or sliced score matching) have
        only the clean data's score, σ = 0. Any σ in the trained range is evaluated as is; where
        training saw only the schedule's levels, :meth:`off_level_note` says so for a σ between them.
        """
        model, standardizer = self.trained_model()
        if model.parametrization not in KERNEL_PARAMETRIZATIONS:
            raise UserError(
                f"this run's model predicts a {model.parametrization}, not a score; "
                "`scorekit logprob` gives its log-density"
            )
        if len(model.event_shape) != 1:  # before the input's shape, whose message would contradict this one
            raise UserError("`score` takes points (N, d); this run's model is of images")
        x, one = as_points(x, model.event_shape)
        condition = condition_of(model, label, x.shape[0])
        if self.schedule is None:
            if sigma not in (None, 0.0):
                raise UserError(
                    "this run learned the clean data's score (no [schedule]): --sigma must be 0 or left out"
                )
            sigma_min = sigma_max = 0.0
        elif self.schedule.sigma_conditioned:
            levels = self.schedule.levels()
            sigma_min = standardizer.sigma_to_data(float(levels.min()))
            sigma_max = standardizer.sigma_to_data(float(levels.max()))
        else:
            raise UserError(
                "this run's schedule conditions the model on a diffusion step, not on σ; `scorekit score` "
                "takes runs of σ schedules (NCSN) and σ = 0 objectives"
            )
        if sigma is None:
            sigma = sigma_min
        if not (math.isfinite(sigma) and sigma_min * (1 - 1e-6) <= sigma <= sigma_max * (1 + 1e-6)):
            raise OutOfRangeError("sigma", sigma, sigma_min, sigma_max)
        t_model = torch.full((x.shape[0],), standardizer.sigma_to_model(sigma), device=self.device)
        if condition is not None:
            model = Conditioned(model, condition.to(self.device))
        model = as_parametrization(model, "score", self.schedule)
        with torch.no_grad():
            s = model(standardizer.forward(x).to(self.device), t_model)
        s = standardizer.score_to_data(s.cpu())
        return (s[0] if one else s), sigma

    def off_level_note(self, sigma: float) -> str | None:
        """A note when data-space ``sigma`` is not one of the levels this run trained at; None when it is, or
        when training drew σ from the whole range (``NoiseSchedule.training_levels``)."""
        if self.schedule is None or not self.schedule.sigma_conditioned:
            return None
        trained = self.schedule.training_levels()
        if trained is None or sigma <= 0:
            return None
        standardizer = self.trained_model()[1]
        levels = sorted(standardizer.sigma_to_data(float(v)) for v in trained)
        nearest = min(levels, key=lambda level: abs(math.log(level / sigma)))
        if abs(nearest / sigma - 1) <= 1e-4:
            return None
        below = [v for v in levels if v < sigma]
        above = [v for v in levels if v > sigma]
        where = (
            f"lies between the trained levels {above[0]:.4g} and {below[-1]:.4g}"
            if below and above
            else "is not a trained level"
        )
        return (
            f"σ = {sigma:.4g} {where}: this run trained at its {len(levels)} levels only "
            f'(schedule.training = "levels"), so the score there is the network\'s interpolation, never fit, '
            f"and less accurate (docs/user-guide.md, 'Scores between levels'); the nearest level is σ = {nearest:.6g}"
        )
