"""Chunked sampling: large N without holding every chain's activations at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from scorekit.condition import Condition, Conditioned, Guided
from scorekit.engine.contracts import blame, check_returned
from scorekit.engine.progress import Progress
from scorekit.errors import UserError
from scorekit.imputation import Imputed, Observation, complete
from scorekit.interfaces import NoiseSchedule, Sampler, ScoreModel, Start
from scorekit.parametrization import KERNEL_PARAMETRIZATIONS, convert, view_for

__all__ = ["CountedModel", "Evaluation", "SamplingStats", "check_start", "sample_in_chunks"]


@dataclass(frozen=True)
class Evaluation:
    """One model evaluation during sampling, as a callback sees it (all in model space).

    ``index`` counts the evaluations of the current chunk from 1 (a step, for samplers that evaluate
    once per step); ``t`` (B,), ``x`` (B, *event) the model's input; ``output`` what the sampler
    consumes (its ``parametrization``); ``denoised`` the estimate x̂₀ = E[x₀ ∣ x_t] that output
    implies through the kernel (None without a kernel prediction or a schedule). The tensors are
    copies, safe to keep.
    """

    chunk: int
    index: int
    t: torch.Tensor
    x: torch.Tensor
    output: torch.Tensor
    denoised: torch.Tensor | None


@dataclass
class SamplingStats:
    """What one sampling call did: model evaluations per chunk (the sampler's NFE) and chunks."""

    evaluations_per_chunk: list[int] = field(default_factory=list)

    @property
    def nfe(self) -> int | None:
        """Evaluations per sampler call (the first chunk's; every chunk walks the same steps)."""
        return self.evaluations_per_chunk[0] if self.evaluations_per_chunk else None


class CountedModel(ScoreModel):
    """A view of ``model`` that calls ``on_evaluation()`` after every forward pass (progress, NFE counts).

    Holds the model, not a copy: parameters, ``parametrization`` and ``event_shape`` are the model's,
    so any sampler or likelihood runs on the view exactly as on the model. ``on_output(x, t, output)``,
    when given, sees every evaluation (the per-step callback of sampling).
    """

    def __init__(
        self,
        model: ScoreModel,
        on_evaluation: Callable[[], None],
        on_output: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.on_evaluation = on_evaluation
        self.on_output = on_output
        self.event_shape = model.event_shape
        self.evaluations = 0

    @property
    def parametrization(self) -> str:  # type: ignore[override]
        return self.model.parametrization

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        output = self.model(x, t)
        self.evaluations += 1
        self.on_evaluation()
        if self.on_output is not None:
            self.on_output(x, t, output)
        return output


def sample_in_chunks(
    sampler: Sampler,
    model: ScoreModel,
    num: int,
    event_shape: tuple[int, ...],
    *,
    schedule: NoiseSchedule | None,
    generator: torch.Generator,
    device: torch.device,
    chunk_size: int,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    callback: Callable[[Evaluation], None] | None = None,
    stats: SamplingStats | None = None,
    condition: Condition | None = None,
    start: Start | None = None,
    guidance: float | None = None,
    observation: Observation | None = None,
) -> torch.Tensor:
    """Draw ``num`` samples, ``chunk_size`` at a time, with one generator; returns (num, *event) on CPU.

    The model is seen through the prediction the sampler declares (``Sampler.parametrization``).
    With ``progress`` the model evaluations are reported on stderr (:class:`Progress`), against
    ``Sampler.num_evaluations`` per chunk where the sampler knows it. ``callback`` is called with an
    :class:`Evaluation` at every model evaluation, for any sampler (trajectories, pictures of x̂₀);
    ``stats`` receives the evaluations of each chunk. A conditional model samples under ``condition``
    (one row per sample), each chunk under its rows, through a :class:`Conditioned` view. ``start``
    (a :class:`Start` of ``num`` rows, model space) replaces the sampler's prior draw, chunk by chunk,
    for samplers that accept one. ``guidance`` w (with a ``condition``): classifier-free guidance through
    a :class:`Guided` view, (1 + w)·f(x, y) − w·f(x, ∅) in one batched forward pass per evaluation.
    ``observation`` (``num`` rows, model space): imputation through an :class:`Imputed` view (its
    method decides what the model sees of the known coordinates); the samples' known coordinates are
    then set to the observed values.
    """
    if start is not None:
        check_start(sampler, start, (num, *event_shape))
    who = f"the sampler {type(sampler).__name__}"
    conditioned = None
    if condition is not None:
        consumer = f"the sampler {type(sampler).__name__}"
        model = conditioned = (
            Conditioned(model, consumer=consumer) if guidance is None else Guided(model, guidance, consumer=consumer)
        )
    imputed = None
    if observation is not None:
        if schedule is None:
            raise UserError("imputation needs a noise schedule: the kernel that noises the known values")
        if len(observation) != num:
            raise UserError(f"imputation needs one observation per sample ({num}), got {len(observation)}")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        noise = torch.Generator(device=generator.device).manual_seed(seed)
        model = imputed = Imputed(model, schedule, observation, noise, consumer=f"the sampler {type(sampler).__name__}")
    model = view_for(model, sampler, schedule)
    chunks = []
    starts = range(0, num, chunk_size)
    # A start part-way down (start.t) walks fewer steps than the sampler's whole grid: shown by count.
    per_chunk = None if start is not None and start.t is not None else sampler.num_evaluations(schedule)
    total = per_chunk * len(starts) if per_chunk else None
    chunk = 0
    on_output = None
    if callback is not None:

        def on_output(x: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> None:
            # Copies: samplers update x in place after the evaluation.
            x, output = x.clone(), output.clone()
            denoised = _denoised(output, x, t, model.parametrization, schedule)
            callback(Evaluation(chunk, counted.evaluations, t.clone(), x, output, denoised))

    with Progress("sample", total, unit="evaluations", enabled=progress) as report:
        counted = CountedModel(model, report.update, on_output)
        with torch.no_grad():
            for chunk, start_row in enumerate(starts):
                n = min(chunk_size, num - start_row)
                if len(starts) > 1:
                    report.set_note(f"chunk {chunk + 1}/{len(starts)} of {n} samples")
                counted.evaluations = 0
                if conditioned is not None and condition is not None:
                    conditioned.condition = condition.rows(slice(start_row, start_row + n)).to(device)
                if imputed is not None and observation is not None:
                    imputed.observation = observation.rows(slice(start_row, start_row + n)).to(device, dtype)
                extra = {} if start is None else {"start": Start(start.x[start_row : start_row + n], start.t)}
                with blame(who):
                    x = sampler.sample(
                        counted,
                        (n, *event_shape),
                        schedule=schedule,
                        generator=generator,
                        device=device,
                        dtype=dtype,
                        **extra,
                    )
                check_returned(x, who, "samples", (n, *event_shape), dtype)
                if imputed is not None:
                    x = complete(x, imputed.observation)
                if stats is not None:
                    stats.evaluations_per_chunk.append(counted.evaluations)
                chunks.append(x.to("cpu"))
    return torch.cat(chunks)


def check_start(sampler: Sampler, start: Start, shape: tuple[int, ...]) -> None:
    """A UserError in one line unless ``sampler`` takes a start and ``start.x`` has ``shape``, finite."""
    name = type(sampler).__name__
    if not sampler.accepts_start:
        raise UserError(f"the sampler {name} takes no starting point (it always draws its own)")
    if tuple(start.x.shape) != tuple(shape):
        raise UserError(f"the starting points have shape {tuple(start.x.shape)}; this sampling needs {tuple(shape)}")
    if not bool(torch.isfinite(start.x).all()):
        raise UserError("the starting points hold NaN or infinite values")


def _denoised(
    output: torch.Tensor, x: torch.Tensor, t: torch.Tensor, prediction: str, schedule: NoiseSchedule | None
) -> torch.Tensor | None:
    if schedule is None or prediction not in KERNEL_PARAMETRIZATIONS:
        return None
    a, s = schedule.kernel(t)
    return convert(output, x, a, s, source=prediction, target="x0")
