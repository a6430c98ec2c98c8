"""The seven interfaces every plugin implements or consumes."""

from __future__ import annotations

from scorekit.interfaces.likelihood import Likelihood
from scorekit.interfaces.loss import Loss
from scorekit.interfaces.noise_schedule import NoiseSchedule, select_levels
from scorekit.interfaces.predictor_corrector import Corrector, Predictor, ReverseTimeSDE
from scorekit.interfaces.sampler import Sampler, Start
from scorekit.interfaces.score_model import ScoreModel
from scorekit.interfaces.solver import Norm, QuadratureFunc, Solution, Solver, SolveStats
from scorekit.interfaces.trace_estimator import TraceEstimator

__all__ = [
    "Corrector",
    "Likelihood",
    "Loss",
    "NoiseSchedule",
    "Norm",
    "Predictor",
    "QuadratureFunc",
    "ReverseTimeSDE",
    "Sampler",
    "ScoreModel",
    "Solution",
    "SolveStats",
    "Solver",
    "Start",
    "TraceEstimator",
    "select_levels",
]
