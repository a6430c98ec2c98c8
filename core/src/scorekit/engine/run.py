"""A run: a resolved config, its components, and its directory (config, checkpoints, metrics, pictures).

Every runner command goes through :class:`Run`, so device placement, seeding, standardization and
checkpoint loading are handled once for every plugin.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from scorekit._registry import Registry
from scorekit.config import RunConfig, dump_config, write_toml_file
from scorekit.data.sources import DataBundle, DataSource, prepare
from scorekit.data.standardize import Standardizer
from scorekit.engine.checkpoint import Checkpoint, latest_checkpoint, read_checkpoint
from scorekit.engine.device import resolve_device
from scorekit.engine.distributed import init_world
from scorekit.engine.ema import EMA
from scorekit.engine.metrics import MetricsWriter
from scorekit.engine.prior import PriorMismatchWarning, prior_mismatch
from scorekit.engine.progress import Progress
from scorekit.engine.sampling import CountedModel, Evaluation, SamplingStats, sample_in_chunks
from scorekit.engine.threads import apply_threads
from scorekit.engine.trainer import Trainer
from scorekit.errors import CheckpointError, ConfigError, OutOfRangeError, RunDirectoryError, UserError
from scorekit.interfaces import Likelihood, Loss, NoiseSchedule, Sampler, ScoreModel
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, as_parametrization, view_for

__all__ = ["CONFIG_FILE", "Run", "as_points", "load"]

CONFIG_FILE = "config.toml"
CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"
SAMPLES_PICTURE = "samples.png"
DENSITY_PICTURE = "density.png"


class Run:
    """Components built from a RunConfig, placed on one device, bound to a run directory.

    Building a Run sets torch's CPU threads by ``train.threads`` (scorekit.engine.threads): the count
    is process-wide in torch, and every phase of the run (training, sampling, evaluation) uses it.
    Phases longer than a few seconds report progress on stderr unless ``train.progress`` is false.
    """

    @classmethod
    def load(
        cls, run_dir: str | Path, *, overrides: tuple[str, ...] | list[str] = (), registry: Registry | None = None
    ) -> Run:
        """The run saved in ``run_dir`` (its ``config.toml``, with ``overrides`` such as ``"sampler.kind='ddim'"``).

        Nothing is read beyond the config until a method needs the data or the checkpoint.
        ``scorekit.load`` is this method.
        """
        from scorekit._registry import load_registry
        from scorekit.config import apply_overrides, load_config, read_toml_file

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise UserError(f"{run_dir}: no such run directory")
        config_path = run_dir / CONFIG_FILE
        if not config_path.is_file():
            raise UserError(f"{run_dir}: not a scorekit run directory (no {CONFIG_FILE})")
        registry = registry if registry is not None else load_registry()
        config = load_config(apply_overrides(read_toml_file(config_path), list(overrides)), registry)
        return cls(config, registry, run_dir)

    def __init__(self, config: RunConfig, registry: Registry, run_dir: Path) -> None:
        self.config = config
        self.registry = registry
        self.run_dir = run_dir
        self.device = resolve_device(config.train.device)
        #: torch's intra-op CPU threads in effect for this run.
        self.threads = apply_threads(config.train.threads)
        self.progress = config.train.progress
        # Each component was looked up while the config was structured; build() checks its interface.
        self.loss: Loss = config.loss.build()
        self.schedule: NoiseSchedule | None = config.schedule.build() if config.schedule else None
        self.sampler: Sampler | None = config.sampler.build() if config.sampler else None
        self.likelihood: Likelihood | None = config.likelihood.build() if config.likelihood else None
        self.loss.check(self.schedule)
        for component in (self.sampler, self.likelihood):
            if component is not None:
                component.check(self.schedule)
        self._source: DataSource = config.data.build()
        self._data: DataBundle | None = None
        #: The checkpoint :meth:`train` wrote last, in memory: (path, model and EMA weights, metadata).
        self._fresh: tuple[Path, Checkpoint] | None = None
        #: What the latest :meth:`sample` did: model evaluations per chunk (``.nfe``).
        self.last_sampling: SamplingStats | None = None

    # -- data and model -------------------------------------------------------------------
    @property
    def data(self) -> DataBundle:
        if self._data is None:
            self._data = prepare(self._source)
        return self._data

    @property
    def density(self) -> Any:
        return self._source.density

    def new_model(self, event_shape: tuple[int, ...]) -> ScoreModel:
        torch.manual_seed(self.config.train.seed)
        model: ScoreModel = self.config.model.build()
        model.bind(event_shape)
        return model.to(self.device)

    # -- training -------------------------------------------------------------------------
    def train(self, *, resume: bool = False) -> Trainer:
        """Train (or resume) in this run directory; under torchrun, as one rank of DDP."""
        world = init_world(self.device)
        if world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", world.local_rank)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RunDirectoryError(self.run_dir, "not_a_directory")
        checkpoint_dir = self.run_dir / CHECKPOINTS
        existing = latest_checkpoint(checkpoint_dir)
        if existing is not None and not resume:
            raise RunDirectoryError(self.run_dir, "exists")
        if resume and existing is None:
            raise RunDirectoryError(self.run_dir, "nothing_to_resume")
        data = self.data
        model = self.new_model(data.event_shape)
        self.check_predictions(model)  # before anything is written
        metrics = MetricsWriter(self.run_dir / METRICS_FILE, enabled=world.is_main)
        if world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_toml_file(self.config, self.run_dir / CONFIG_FILE)
        trainer = Trainer(
            model,
            self.loss,
            self.schedule,
            data.train,
            self.config.train,
            device=self.device,
            checkpoint_dir=checkpoint_dir,
            metrics=metrics,
            checkpoint_meta=lambda: {
                "event_shape": list(data.event_shape),
                "standardizer": data.standardizer.to_dict(),
                "config": dump_config(self.config),
            },
            world=world,
        )
        if existing is not None:
            trainer.load_state(read_checkpoint(existing))
        # A fresh start drops what a run that died before its first checkpoint had logged.
        metrics.truncate_after(trainer.step)
        if world.is_main:
            if self.progress:
                print(self._describe_training(trainer), file=sys.stderr, flush=True)
            self.check_prior()
        trainer.run()
        self._fresh = trainer.last_saved
        return trainer

    def check_predictions(self, model: ScoreModel) -> None:
        """Raise ConfigError unless the model's prediction converts to what the loss, sampler and likelihood consume."""
        view_for(model, self.loss, self.schedule)
        for component in (self.sampler, self.likelihood):
            if component is not None:
                view_for(model, component, self.schedule)

    def _describe_training(self, trainer: Trainer) -> str:
        """The line that opens training: model, data, steps, batch, device and threads."""
        config = self.config
        parameters = sum(p.numel() for p in trainer.model.parameters())
        shape = " × ".join(map(str, (self.data.train.shape[0], *self.data.event_shape)))
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return (
            f"train: {config.model.name} ({parameters:,} parameters) on {config.data.name} ({shape}), "
            f"steps {trainer.step} → {config.train.steps}, batch {config.train.batch_size}, {self.device}"
            + (f", {threads}" if self.device.type == "cpu" else "")
        )

    # -- trained model --------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """The run's latest checkpoint. Right after :meth:`train` wrote it, the trainer's in-memory copy of
        its model and EMA weights and metadata, not the file read back (still the latest on disk)."""
        path = latest_checkpoint(self.run_dir / CHECKPOINTS)
        if path is None:
            raise UserError(f"{self.run_dir}: no checkpoint found in {self.run_dir / CHECKPOINTS}; train first")
        if self._fresh is not None and self._fresh[0] == path:
            return self._fresh[1]
        return read_checkpoint(path)

    def trained_model(self, *, use_ema: bool = True) -> tuple[ScoreModel, Standardizer]:
        """The latest checkpoint's model (EMA weights by default) in eval mode, and its standardizer."""
        checkpoint = self.checkpoint()
        try:
            event_shape = tuple(int(v) for v in checkpoint.meta["event_shape"])
            standardizer = Standardizer.from_dict(checkpoint.meta["standardizer"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint of {self.run_dir} lacks data metadata ({exc})") from None
        model = self.new_model(event_shape)
        try:
            model.load_state_dict(checkpoint.group("model"))
            ema_state = checkpoint.group("ema")
            if use_ema and ema_state:
                ema = EMA(model, 0.0)
                ema.load_state_dict(ema_state)
                ema.copy_to(model)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint of {self.run_dir} does not fit the configured model ({str(exc).splitlines()[0]})"
            ) from None
        model.eval()
        return model, standardizer

    def sample(
        self, num: int, *, seed: int | None = None, callback: Callable[[Evaluation], None] | None = None
    ) -> torch.Tensor:
        """``num`` samples in data space, shape (num, *event).

        ``callback(evaluation)`` sees every model evaluation of the sampler (step, t, x, the sampler's
        input and x̂₀, in model space: :class:`scorekit.engine.sampling.Evaluation`).
        :attr:`last_sampling` then holds the evaluations per chunk (the sampler's NFE).
        """
        if self.sampler is None:
            raise ConfigError(
                "the run has no [sampler] section; add one, or choose one when loading the run "
                "(override sampler.kind=NAME; on the command line --set sampler.kind=NAME) @ $.sampler"
            )
        model, standardizer = self.trained_model(use_ema=self.config.sample.use_ema)
        self.check_prior()
        generator = torch.Generator(device=self.device).manual_seed(self.config.sample.seed if seed is None else seed)
        stats = SamplingStats()
        samples = sample_in_chunks(
            self.sampler,
            model,
            num,
            model.event_shape,
            schedule=self.schedule,
            generator=generator,
            device=self.device,
            chunk_size=self.config.sample.chunk_size,
            progress=self.progress,
            callback=callback,
            stats=stats,
        )
        self.last_sampling = stats
        return standardizer.inverse(samples)

    def check_prior(self) -> str | None:
        """Warn (:class:`PriorMismatchWarning`, one line) if the sampler's start does not fit the training data.

        Returns the message, or None when the start fits or the sampler does not start from a Gaussian.
        """
        if self.sampler is None:
            return None
        message = prior_mismatch(self.sampler, self.schedule, self.data.train)
        if message is not None:
            warnings.warn(message, PriorMismatchWarning, stacklevel=2)
        return message

    def log_prob(self, x: Any, *, chunk_size: int = 4096, seed: int = 0) -> torch.Tensor:
        """The trained model's log-density at data-space points ``x`` (N, *event), in data space: (N,) float64.

        ``x`` may be one point (*event), then the result is a 0-dim tensor; a tensor or a NumPy array.

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
        generator = torch.Generator(device=self.device).manual_seed(seed)
        log_det = -sum(math.log(s) for s in standardizer.scale)
        pieces = []
        chunks = torch.split(standardizer.forward(x.to(torch.float32)), chunk_size)
        # An adaptive solver's evaluations are not known in advance: the count is the progress.
        with Progress("log p", unit="evaluations", enabled=self.progress) as progress:
            counted = CountedModel(view_for(model, self.likelihood, self.schedule), progress.update)
            for index, chunk in enumerate(chunks):
                progress.set_note(f"chunk {index + 1}/{len(chunks)}, {x.shape[0]} points")
                log_p = self.likelihood.log_prob(
                    counted, chunk.to(self.device), schedule=self.schedule, generator=generator
                )
                pieces.append(log_p.detach().cpu().double() + log_det)
        log_p = torch.cat(pieces)
        return log_p[0] if one else log_p

    def score(self, x: Any, sigma: float | None = None) -> tuple[torch.Tensor, float]:
        """The trained score at data-space points for data-space noise level σ; returns (score, σ).

        ``x``: points (N, d) or one point (d,), a tensor or a NumPy array of any real dtype; the
        score has the same shape (float32). σ = None: the smallest trained level.

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
        x, one = as_points(x, model.event_shape)
        if len(model.event_shape) != 1:
            raise UserError("`score` takes points (N, d); this run's model is of images")
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


def load(run_dir: str | Path, *, overrides: tuple[str, ...] | list[str] = (), registry: Registry | None = None) -> Run:
    """The run saved in ``run_dir``: ``scorekit.load("runs/ncsn").sample(1000)`` (see :meth:`Run.load`)."""
    return Run.load(run_dir, overrides=overrides, registry=registry)


def as_points(x: Any, event_shape: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
    """``x`` (a tensor, a NumPy array or nested lists; any real dtype) as float32 (N, *event), and
    whether it was a single point of shape ``event_shape``. Raises UserError for other shapes,
    non-numbers and NaN or infinite values."""
    if not isinstance(x, torch.Tensor):
        import numpy as np

        try:
            array = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise UserError(f"input is not an array of numbers ({exc})") from None
        if array.dtype.kind not in "biuf":
            raise UserError(f"input must hold real numbers, got dtype {array.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    elif x.is_complex() or x.dtype == torch.bool:
        raise UserError(f"input must hold real numbers, got {x.dtype}")
    x = x.detach().to("cpu", torch.float32)
    one = tuple(x.shape) == tuple(event_shape)
    if one:
        x = x[None]
    if x.ndim < 2 or tuple(x.shape[1:]) != tuple(event_shape):
        dims = ", ".join(map(str, event_shape))
        raise UserError(f"input must have shape (N, {dims}) or ({dims}), got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise UserError("input holds NaN or infinite values")
    return x, one
