"""The training loop every plugin's training runs through."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from scorekit.condition import NO_LABEL, Condition, Conditioned
from scorekit.config import TrainConfig
from scorekit.engine.checkpoint import Checkpoint, latest_checkpoint, write_checkpoint
from scorekit.engine.contracts import blame, check_loss_value
from scorekit.engine.distributed import World
from scorekit.engine.ema import EMA
from scorekit.engine.metrics import MetricsWriter
from scorekit.engine.precision import autocast, check_compile, check_precision, grad_scaler
from scorekit.engine.progress import Progress
from scorekit.engine.state import all_finite
from scorekit.engine.trainer_state import restore, training_state
from scorekit.errors import ConfigError, ScorekitError
from scorekit.interfaces import Loss, NoiseSchedule, ScoreModel
from scorekit.parametrization import view_for

__all__ = ["NonFiniteLossError", "Trainer", "TrainingInterrupted", "adam_implementation", "learning_rate"]

#: Rank r draws from a generator seeded with seed + RANK_SEED_STRIDE·r, so ranks see distinct noise.
RANK_SEED_STRIDE = 1_000_003


class NonFiniteLossError(ScorekitError):
    """The loss or the gradient became NaN or infinite."""


class TrainingInterrupted(ScorekitError):
    """Ctrl-C (SIGINT) or SIGTERM stopped training between two steps; ``checkpoint`` holds the step it reached,
    ``signal`` names the signal ("SIGINT", "SIGTERM")."""

    def __init__(self, step: int, checkpoint: Path | None, signal: str = "SIGINT") -> None:
        saved = f"checkpoint {checkpoint} saved" if checkpoint is not None else "no checkpoint saved"
        how = "interrupted" if signal == "SIGINT" else f"stopped by {signal}"
        super().__init__(f"training {how} at step {step}; {saved}")
        self.step = step
        self.checkpoint = checkpoint
        self.signal = signal


def adam_implementation(device: torch.device) -> dict[str, Any]:
    """Adam's fused kernel where torch has one for the device: one kernel for all parameters
    instead of a loop of small ops (about 250 → 70 µs per step for the preset's MLP on 2 CPU cores)."""
    return {"fused": True} if device.type in ("cpu", "cuda", "mps") else {}


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate for optimizer step ``step`` (0-based): constant, or cosine decay."""
    if config.lr_schedule == "constant":
        return config.lr
    progress = min(step / max(config.steps, 1), 1.0)
    factor = config.lr_min_factor + (1 - config.lr_min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * factor


class Trainer:
    """Minimizes a Loss over a ScoreModel on a fixed training tensor.

    Owns the optimizer (Adam), the EMA, gradient clipping, the learning-rate schedule, the
    precision policy, seeded randomness (one generator per rank draws batch indices and the loss's
    noise), metrics, checkpoints and the progress bar. Under torchrun the model is wrapped in
    DistributedDataParallel: each rank trains on its shard of the data with ``batch_size /
    world_size`` samples, so the global batch is ``batch_size``; only rank 0 writes.
    """

    def __init__(
        self,
        model: ScoreModel,
        loss: Loss,
        schedule: NoiseSchedule | None,
        train: torch.Tensor,
        config: TrainConfig,
        *,
        device: torch.device,
        checkpoint_dir: Path,
        metrics: MetricsWriter,
        checkpoint_meta: Callable[[], dict[str, Any]] = dict,
        world: World | None = None,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.world = world = world or World()
        check_precision(config.precision, device)
        if config.compile:
            check_compile(device)
        if config.batch_size % world.world_size:
            raise ConfigError(
                f"batch_size {config.batch_size} is not divisible by the {world.world_size} processes "
                "@ $.train.batch_size"
            )
        self.model = model
        self.loss = loss
        self.schedule = schedule
        self.train = train[world.rank :: world.world_size].to(device)
        # A class-conditional model trains on each batch's labels, bound to it through a view.
        self.labels: torch.Tensor | None = None
        if model.num_classes:
            if labels is None:
                raise ConfigError(f"{type(model).__name__} is class-conditional: the data needs labels @ $.data")
            self.labels = labels[world.rank :: world.world_size].to(device)
        self.batch_size = config.batch_size // world.world_size
        self.config = config
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.metrics = metrics
        self.checkpoint_meta = checkpoint_meta
        self.forward_model: torch.nn.Module = model
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [device.index] if device.type == "cuda" else None
            # The graph is the same every step: static_graph lets DDP skip its per-step search for
            # unused parameters, and bucket views save a gradient copy (5.98 → 5.20 ms per step for
            # the preset's MLP, 2 processes, gloo, measured in benchmarks/ddp_overhead.py's setting).
            self.forward_model = DistributedDataParallel(
                model, device_ids=device_ids, static_graph=True, gradient_as_bucket_view=True
            )
            # DDP does not forward attribute lookups: a loss reads the ScoreModel's own attributes
            # (what it predicts, its event shape) on the model it is handed.
            self.forward_model.parametrization = model.parametrization  # type: ignore[assignment]
            self.forward_model.event_shape = model.event_shape  # type: ignore[assignment]
        self.conditioned: Conditioned | None = None
        if self.labels is not None:
            if config.compile:  # compiled beneath the view, whose condition changes every step
                self.forward_model = torch.compile(self.forward_model)  # type: ignore[assignment]
            self.conditioned = Conditioned(self.forward_model, consumer=f"the loss {type(loss).__name__}")
            self.forward_model = self.conditioned
        # The one conversion point: the loss sees the prediction it declares (Loss.parametrization).
        self.forward_model = view_for(self.forward_model, loss, schedule)  # type: ignore[arg-type]
        if config.compile and self.conditioned is None:
            self.forward_model = torch.compile(self.forward_model)  # type: ignore[assignment]
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(
            self.parameters, lr=config.lr, weight_decay=config.weight_decay, **adam_implementation(device)
        )
        self.scaler = grad_scaler(config.precision, device)
        self.ema = EMA(model, config.ema_decay) if config.ema_decay > 0 else None
        self.generator = torch.Generator(device=device).manual_seed(config.seed + RANK_SEED_STRIDE * world.rank)
        self.step = 0
        #: The latest checkpoint this trainer wrote, and its model and EMA weights in memory.
        self.last_saved: tuple[Path, Checkpoint] | None = None
        #: The step this process started from (0, or the resumed checkpoint's step).
        self.start_step = 0
        self.skipped = 0
        self.loss_name = f"the loss {type(loss).__name__}"
        #: The signal that asked training to stop ("SIGINT", "SIGTERM"), once one did.
        self.stop_signal = "SIGINT"

    def run(self) -> None:
        """Train to ``config.steps``.

        A first Ctrl-C lets the current step finish, writes a checkpoint and raises
        :class:`TrainingInterrupted` (one process; under DDP the ranks could not agree on the step,
        so Ctrl-C raises KeyboardInterrupt at once and the latest periodic checkpoint stands). A
        second Ctrl-C interrupts at once.
        """
        enabled = self.config.progress and self.world.is_main
        with (
            self._graceful_interrupt() as interrupted,
            Progress("train", self.config.steps, unit="steps", initial=self.step, enabled=enabled) as progress,
        ):
            self._run(interrupted, progress)

    def _run(self, interrupted: threading.Event, progress: Progress) -> None:
        config = self.config
        n = self.train.shape[0]
        window_loss = torch.zeros((), device=self.device)
        window_start, window_steps, window_skipped = time.perf_counter(), 0, 0
        self.model.train()
        while self.step < config.steps:
            if interrupted.is_set():
                if self.last_saved is not None and self.last_saved[1].step == self.step:
                    saved: Path | None = self.last_saved[0]  # this step's checkpoint is written already
                else:
                    saved = self.save() if self.step > self.start_step else None
                raise TrainingInterrupted(self.step, saved, self.stop_signal)
            lr = learning_rate(config, self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            index = torch.randint(n, (self.batch_size,), generator=self.generator, device=self.device)
            if self.conditioned is not None:
                labels = self.labels[index]  # type: ignore[index]
                if config.label_dropout > 0:  # classifier-free guidance's unconditional rows
                    dropped = torch.rand(labels.shape, generator=self.generator, device=self.device)
                    labels = torch.where(dropped < config.label_dropout, NO_LABEL, labels)
                self.conditioned.condition = Condition(labels)
            with autocast(config.precision, self.device), blame(self.loss_name):
                value = self.loss(
                    self.forward_model,  # type: ignore[arg-type]
                    self.train[index],
                    schedule=self.schedule,
                    generator=self.generator,
                )
            check_loss_value(value, self.loss_name)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(value).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                value.backward()
            problem = self._nonfinite(value)
            self.step += 1
            progress.update()
            if problem is not None:
                self._handle_nonfinite(problem, value)
                window_skipped += 1
            else:
                if self.scaler is not None:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                if self.ema is not None:
                    self.ema.update(self.step - 1)
                window_loss += value.detach().float()
                window_steps += 1
            if self.step % config.log_every == 0 or self.step == config.steps:
                elapsed = time.perf_counter() - window_start
                counted = self.world.mean(torch.tensor(float(window_steps), device=self.device))
                total = self.world.mean(window_loss)
                mean_loss = (total / counted).item() if counted.item() > 0 else None
                record = {
                    "step": self.step,
                    "loss": mean_loss,
                    "lr": lr,
                    "steps_per_second": (window_steps + window_skipped) / elapsed if elapsed > 0 else None,
                }
                grad_norm = self._grad_norm()
                if grad_norm is not None:
                    record["grad_norm"] = grad_norm
                if self.skipped:
                    record["skipped_steps"] = self.skipped
                if self.world.is_main:
                    self.metrics.write(record)
                progress.set_note(f"loss {mean_loss:.4g}" if mean_loss is not None else "every step skipped")
                window_loss.zero_()
                window_start, window_steps, window_skipped = time.perf_counter(), 0, 0
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self.save()

    @contextlib.contextmanager
    def _graceful_interrupt(self) -> Iterator[threading.Event]:
        """An event set by the first SIGINT or SIGTERM (a Ctrl-C, a scheduler's or ``kill``'s request to stop);
        ``self.stop_signal`` names it. The handlers are ours only in a single process's main thread."""
        interrupted = threading.Event()
        if self.world.distributed or threading.current_thread() is not threading.main_thread():
            yield interrupted
            return
        signals = (signal.SIGINT, signal.SIGTERM)

        def handler(signum: int, frame: Any) -> None:
            interrupted.set()
            self.stop_signal = signal.Signals(signum).name
            for number, old in zip(signals, previous, strict=True):  # a second signal stops at once
                signal.signal(number, old)

        previous = [signal.signal(number, handler) for number in signals]
        try:
            yield interrupted
        finally:
            for number, old in zip(signals, previous, strict=True):
                signal.signal(number, old)

    def _grad_norm(self) -> float | None:
        """The global norm of the last step's gradients (None when that step was skipped)."""
        grads = [p.grad.detach() for p in self.parameters if p.grad is not None]
        if not grads:
            return None
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))

    def close(self) -> None:
        """Leave the process group; the DDP wrapper goes first, since it holds the group's threads."""
        if self.world.distributed:
            self.forward_model = self.model
            gc.collect()
        self.world.shutdown()

    def _nonfinite(self, value: torch.Tensor) -> str | None:
        """What is NaN/Inf this step ("loss" or "gradient"), or None; the same on every rank.

        The gradients are always checked: a finite loss can still have a NaN gradient, which Adam
        would write into the weights. After DDP's all-reduce the gradients agree across ranks, so
        every rank takes the same decision without another collective.
        """
        if self.scaler is not None:
            # fp16: overflowing gradients are the scaler's business (it skips the step and lowers
            # the scale); only a non-finite loss is ours, agreed on across ranks (one all-reduce).
            bad = torch.logical_not(torch.isfinite(value.detach())).float()
            return "loss" if self.world.mean(bad).item() > 0 else None
        clip = self.config.grad_clip
        if clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, clip)
            finite = bool(torch.isfinite(grad_norm))
        else:
            finite = all_finite([p.grad for p in self.parameters if p.grad is not None])
        if not finite:
            return "loss" if not torch.isfinite(value) else "gradient"
        return None

    def _handle_nonfinite(self, what: str, value: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.update()  # unscale_ ran this step; the scaler must be reset before the next
        where = f"non-finite {what} at step {self.step} in loss {type(self.loss).__name__} (loss value {value.item()})"
        if self.config.nonfinite == "skip" and self.skipped < self.config.max_skipped_steps:
            self.skipped += 1
            self._check_weights(f"after non-finite {what} at step {self.step}")  # skipping cannot heal weights
            return
        hint = (
            f"skipped {self.skipped} such steps already (train.max_skipped_steps = {self.config.max_skipped_steps})"
            if self.config.nonfinite == "skip"
            else "set train.nonfinite = 'skip' to skip such steps"
        )
        kept = latest_checkpoint(self.checkpoint_dir)
        state = f"the last good checkpoint, {kept}, is intact" if kept else "no checkpoint had been written yet"
        raise NonFiniteLossError(
            f"{where}; {state}. Lower train.lr, set train.grad_clip, check the data for extreme values, or {hint}."
        )

    def _check_weights(self, when: str) -> None:
        """Raise NonFiniteLossError if a weight or EMA weight is NaN or infinite (an update that overflowed)."""
        weights = [p.detach() for p in self.model.parameters()]
        if self.ema is not None:
            weights += self.ema.params
        if all_finite(weights):
            return
        kept = latest_checkpoint(self.checkpoint_dir)
        state = f"the last good checkpoint, {kept}, is intact" if kept else "no checkpoint had been written yet"
        raise NonFiniteLossError(
            f"the model's weights became non-finite {when} (an update overflowed: train.lr = {self.config.lr:g}); "
            f"{state}. Lower train.lr or set train.grad_clip."
        )

    def save(self) -> Path | None:
        """Write a checkpoint (rank 0); every rank must call it, since RNG states are gathered.

        The weights are checked first: a checkpoint holds finite weights, so the latest one is always a
        good one to resume or sample from.
        """
        self._check_weights(f"by step {self.step}")
        tensors, meta = self.state()
        if not self.world.is_main:
            return None
        meta.update(self.checkpoint_meta())
        path = write_checkpoint(self.checkpoint_dir, self.step, tensors, meta, keep=self.config.keep_checkpoints)
        # What a sampler needs of it, kept in memory so the same process need not read the file back.
        weights = {k: v.detach().cpu().clone() for k, v in tensors.items() if k.startswith(("model/", "ema/"))}
        self.last_saved = (path, Checkpoint(self.step, weights, json.loads(json.dumps(meta))))
        return path

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The tensors and metadata a checkpoint holds (:func:`scorekit.engine.trainer_state.training_state`)."""
        return training_state(self)

    def load_state(self, checkpoint: Checkpoint) -> None:
        """Restore everything a resume needs, after checking every tensor and the metadata against this run;
        a checkpoint that does not fit is a CheckpointError (:func:`scorekit.engine.trainer_state.restore`)."""
        restore(self, checkpoint)
