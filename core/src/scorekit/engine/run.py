"""A run: a resolved config, its components, and its directory (config, checkpoints, metrics, pictures).

Every runner command goes through :class:`Run`, so device placement, seeding, standardization and
checkpoint loading are handled once for every plugin.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scorekit._io import remove_stale_temporaries
from scorekit._registry import Registry
from scorekit.condition import NO_LABEL, Condition
from scorekit.config import RunConfig, dump_config, write_toml_file
from scorekit.data.sources import DataBundle, DataSource, prepare
from scorekit.data.standardize import Standardizer
from scorekit.engine.checkpoint import Checkpoint, latest_checkpoint, read_checkpoint
from scorekit.engine.checkpoint_check import check_event_shape, check_tensors, model_specs
from scorekit.engine.contracts import check_model
from scorekit.engine.device import resolve_device
from scorekit.engine.distributed import World, init_world
from scorekit.engine.ema import EMA
from scorekit.engine.inputs import as_points, condition_of
from scorekit.engine.lock import run_lock
from scorekit.engine.metrics import MetricsWriter
from scorekit.engine.queries import PointQueries
from scorekit.engine.run_checks import RunChecks
from scorekit.engine.sampling import Evaluation, SamplingStats, sample_in_chunks
from scorekit.engine.tensorboard import TENSORBOARD_DIR, TensorBoardWriter
from scorekit.engine.threads import apply_threads
from scorekit.engine.trainer import Trainer
from scorekit.errors import CheckpointError, ConfigError, RunDirectoryError, UserError
from scorekit.imputation import Observation
from scorekit.interfaces import Likelihood, Loss, NoiseSchedule, Sampler, ScoreModel, Start

__all__ = ["CONFIG_FILE", "Run", "TrainResult", "load"]

CONFIG_FILE = "config.toml"
CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"
SAMPLES_PICTURE = "samples.png"
DENSITY_PICTURE = "density.png"


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Run.train` did: the step it reached from ``start_step`` (0, or the resumed
    checkpoint's), steps skipped for a non-finite loss or gradient, the training loop's seconds, the
    last checkpoint written (None on a rank other than 0, which writes nothing) and whether this
    process is rank 0 (always, without torchrun)."""

    step: int
    start_step: int
    skipped: int
    seconds: float
    checkpoint: Path | None
    is_main: bool = True

    @property
    def steps(self) -> int:
        """Steps taken in this call."""
        return self.step - self.start_step


class Run(PointQueries, RunChecks):
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
        self._fresh: tuple[Path, tuple[int, int] | None, Checkpoint] | None = None
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
        model = model.to(self.device)
        # A forward pass on two points now: a model that returns the wrong shape is one line naming it.
        t = float(self.schedule.levels()[-1]) if self.schedule is not None else 0.0
        if model.num_classes:
            labels = Condition(torch.zeros(2, dtype=torch.long, device=self.device))
            check_model(model, event_shape, t, self.device, lambda x, s: model(x, s, condition=labels))
        else:
            check_model(model, event_shape, t, self.device, model)
        return model

    # -- training -------------------------------------------------------------------------
    def train(self, *, resume: bool = False) -> TrainResult:
        """Train (or resume) in this run directory; under torchrun, as one rank of DDP.

        Returns what training did (:class:`TrainResult`); the trained network is :meth:`trained_model`,
        read from the checkpoint just written without reading the file back. Raises
        :class:`RunDirectoryError` for a directory that holds checkpoints without ``resume`` (or none
        with it), and :class:`~scorekit.engine.trainer.TrainingInterrupted` after a Ctrl-C (its
        checkpoint saved).
        """
        if self.config.train.tensorboard:
            TensorBoardWriter.require()  # before anything is written
        world = init_world(self.device)
        if world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", world.local_rank)
        if (self.run_dir.exists() or self.run_dir.is_symlink()) and not self.run_dir.is_dir():
            raise RunDirectoryError(self.run_dir, "not_a_directory")  # a file, or a dangling or looping link
        checkpoints = self.run_dir / CHECKPOINTS
        if (checkpoints.exists() or checkpoints.is_symlink()) and not checkpoints.is_dir():
            raise UserError(f"{checkpoints} is not a directory; a run directory keeps its checkpoints there")
        data = self.data
        model = self.new_model(data.event_shape)
        self.check_predictions(model)  # before anything is written
        self.check_labels(model, data)
        # One writer per run directory (rank 0 writes for all ranks); held until training ends.
        with run_lock(self.run_dir) if world.is_main else contextlib.nullcontext():
            return self._train_locked(world, data, model, resume)

    def _train_locked(self, world: World, data: DataBundle, model: ScoreModel, resume: bool) -> TrainResult:
        """:meth:`train` once the run directory is this process's: checkpoints, config, the loop."""
        checkpoint_dir = self.run_dir / CHECKPOINTS
        if world.is_main:  # temporaries of writers that died mid-write (none can be alive: we hold the lock)
            remove_stale_temporaries(self.run_dir)
            remove_stale_temporaries(checkpoint_dir)
        existing = latest_checkpoint(checkpoint_dir)
        if existing is not None and not resume:
            raise RunDirectoryError(self.run_dir, "exists")
        if resume and existing is None:
            raise RunDirectoryError(self.run_dir, "nothing_to_resume")
        resumed = None
        if existing is not None:
            resumed = read_checkpoint(existing)
            self.check_resumable(resumed)
            check_event_shape(resumed.meta.get("event_shape"), f"{existing}", data.event_shape)
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
                **({"label_counts": data.label_counts()} if model.num_classes else {}),
            },
            world=world,
            labels=data.train_labels if model.num_classes else None,
        )
        if resumed is not None:
            trainer.load_state(resumed)
        # A fresh start drops what a run that died before its first checkpoint had logged.
        metrics.truncate_after(trainer.step)
        if self.config.train.tensorboard and world.is_main:
            metrics.tensorboard = TensorBoardWriter(self.run_dir / TENSORBOARD_DIR, trainer.step)
        if world.is_main:
            if self.progress:
                print(self._describe_training(trainer), file=sys.stderr, flush=True)
            self.check_prior()
        started = time.perf_counter()
        try:
            trainer.run()
        finally:
            trainer.close()  # under DDP: leaves the process group
            metrics.close()
        if trainer.last_saved is not None:
            path, saved = trainer.last_saved
            self._fresh = (path, _identity(path), saved)
        return TrainResult(
            step=trainer.step,
            start_step=trainer.start_step,
            skipped=trainer.skipped,
            seconds=time.perf_counter() - started,
            checkpoint=trainer.last_saved[0] if trainer.last_saved else None,
            is_main=world.is_main,
        )

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
        its model and EMA weights and metadata, not the file read back (still the latest on disk). A
        checkpoint read once is kept while its file is unchanged (same name, modification time and
        size), so the methods that each need it (model, label counts, guidance) read it once."""
        path = latest_checkpoint(self.run_dir / CHECKPOINTS)
        if path is None:
            raise UserError(f"{self.run_dir}: no checkpoint found in {self.run_dir / CHECKPOINTS}; train first")
        identity = _identity(path)
        if self._fresh is not None and self._fresh[:2] == (path, identity) and identity is not None:
            return self._fresh[2]
        checkpoint = read_checkpoint(path)
        self._fresh = (path, identity, checkpoint)
        return checkpoint

    def trained_model(self, *, use_ema: bool = True) -> tuple[ScoreModel, Standardizer]:
        """The latest checkpoint's model (EMA weights by default) in eval mode, and its standardizer."""
        checkpoint = self.checkpoint()
        where = f"{self.run_dir}: the checkpoint at step {checkpoint.step}"
        if "event_shape" not in checkpoint.meta or "standardizer" not in checkpoint.meta:
            raise CheckpointError(f"{where} lacks data metadata (event_shape, standardizer)")
        event_shape = check_event_shape(checkpoint.meta["event_shape"], where, self._data_event_shape())
        try:
            standardizer = Standardizer.from_dict(checkpoint.meta["standardizer"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(f"{where}: malformed standardizer ({exc})") from None
        if standardizer.dim not in (1, math.prod(event_shape)):
            raise CheckpointError(f"{where}: the standardizer's {standardizer.dim} dimensions do not fit {event_shape}")
        model = self.new_model(event_shape)
        required, optional = model_specs(model, ema=False)
        check_tensors(checkpoint, required, optional, groups=("model", "ema"), where=where, optional_all_or_none=True)
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

    def _data_event_shape(self) -> tuple[int, ...] | None:
        """The data's event shape, to check a checkpoint's against; None when the data cannot be read."""
        try:
            return self.data.event_shape
        except UserError:  # the data moved or is unreadable: sampling from the checkpoint still works
            return None

    def sample(
        self,
        num: int,
        *,
        seed: int | None = None,
        callback: Callable[[Evaluation], None] | None = None,
        label: Any = None,
        start: Any = None,
        t_start: float | None = None,
        guidance: float | None = None,
        observation: Observation | None = None,
        unconditional: bool = False,
    ) -> torch.Tensor:
        """``num`` samples in data space, shape (num, *event).

        ``callback(evaluation)`` sees every model evaluation of the sampler (step, t, x, the sampler's
        input and x̂₀, in model space: :class:`scorekit.engine.sampling.Evaluation`).
        :attr:`last_sampling` then holds the evaluations per chunk (the sampler's NFE).

        ``label`` (class-conditional runs): one class for all samples or one per sample; left out,
        each sample's class is drawn from the training data's class frequencies.

        ``start`` (model space, (num, *event)): the sampler's starting state instead of its prior
        draw, at its first level, or at ``t_start`` (the schedule's t) when given — an x_T from
        :meth:`encode`, or the noised data of an edit (:meth:`edit`). For samplers whose
        ``accepts_start`` is true (all built-in ones).

        ``guidance`` w ≥ 0 (class-conditional runs trained with ``train.label_dropout`` > 0, and a
        ``label``): classifier-free guidance, (1 + w)·f(x, y) − w·f(x, ∅); 0 is plain conditional sampling.

        ``observation`` (``num`` rows, model space): imputation; :meth:`impute` builds it from data.
        ``unconditional`` (class-conditional runs trained with label dropout): every sample under the
        null label, p(x) through the learned unconditional score.
        """
        sampler = self.require_sampler()
        model, standardizer = self.trained_model(use_ema=self.config.sample.use_ema)
        begin = None
        if start is not None:
            begin = Start(as_points(start, model.event_shape)[0], None if t_start is None else float(t_start))
        elif t_start is not None:
            raise UserError("t_start needs a start: the state at that time")
        else:
            self.check_prior()
        seed = self.config.sample.seed if seed is None else seed
        generator = torch.Generator(device=self.device).manual_seed(seed)
        if unconditional and model.num_classes:
            if label is not None:
                raise UserError("give a label or ask for unconditional samples, not both")
            self._check_null_label("unconditional samples")
            condition: Condition | None = Condition(torch.full((num,), NO_LABEL, dtype=torch.int64))
        else:
            counts = self._label_counts(model)
            condition = condition_of(
                model, label, num, label_counts=counts, generator=torch.Generator().manual_seed(seed)
            )
        stats = SamplingStats()
        samples = sample_in_chunks(
            sampler,
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
            condition=condition,
            start=begin,
            guidance=self._guidance(model, label, guidance),
            observation=observation,
        )
        self.last_sampling = stats
        return standardizer.inverse(samples)

    def _guidance(self, model: ScoreModel, label: Any, guidance: float | None) -> float | None:
        """``guidance`` checked: a finite w ≥ 0 for a conditional model given a label, trained with label dropout."""
        if guidance is None:
            return None
        if not (isinstance(guidance, int | float) and math.isfinite(guidance) and 0 <= guidance <= 1000):
            raise UserError(f"guidance must be a number in [0, 1000], got {guidance!r}")
        if not model.num_classes:
            raise UserError("guidance needs a class-conditional run (model.classes > 0); this run's is unconditional")
        if label is None:
            raise UserError("guidance needs a label: the class to guide towards")
        self._check_null_label("guidance")
        return float(guidance)

    def learned_null_label(self) -> bool:
        """Whether the checkpoint's training used label dropout, so the null label means p(x)."""
        stored = self.checkpoint().meta.get("config")
        train = stored.get("train") if isinstance(stored, dict) else None
        dropout = train.get("label_dropout", 0.0) if isinstance(train, dict) else 0.0
        return isinstance(dropout, int | float) and dropout > 0

    def _check_null_label(self, what: str) -> None:
        if not self.learned_null_label():
            raise UserError(
                f"{what} needs the unconditional score, which this run never learned: train with "
                "train.label_dropout > 0 (0.1 to 0.2 is usual)"
            )

    def require_sampler(self) -> Sampler:
        """The run's sampler, or a ConfigError saying how to choose one."""
        if self.sampler is None:
            raise ConfigError(
                "the run has no [sampler] section; add one, or choose one when loading the run "
                "(override sampler.kind=NAME; on the command line --set sampler.kind=NAME) @ $.sampler"
            )
        return self.sampler

    def _label_counts(self, model: ScoreModel) -> list[int] | None:
        """The training class counts stored with the checkpoint, if they fit the model (else None)."""
        counts = self.checkpoint().meta.get("label_counts") if model.num_classes else None
        if (
            isinstance(counts, list)
            and len(counts) == model.num_classes
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 2**53 for c in counts)
            and sum(counts) > 0
        ):
            return counts
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of ``path``, or None when it cannot be stat'ed."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def load(run_dir: str | Path, *, overrides: tuple[str, ...] | list[str] = (), registry: Registry | None = None) -> Run:
    """The run saved in ``run_dir``: ``scorekit.load("runs/ncsn").sample(1000)`` (see :meth:`Run.load`)."""
    return Run.load(run_dir, overrides=overrides, registry=registry)
