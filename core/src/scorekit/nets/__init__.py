"""Built-in score networks."""

from __future__ import annotations

from scorekit.nets.embeddings import FourierEmbedding, SinusoidalEmbedding
from scorekit.nets.mlp import NCSNMLP
from scorekit.nets.score_mlp import ScoreMLP
from scorekit.nets.time_mlp import TimeMLP
from scorekit.nets.unet import UNet

__all__ = ["NCSNMLP", "FourierEmbedding", "ScoreMLP", "SinusoidalEmbedding", "TimeMLP", "UNet"]
