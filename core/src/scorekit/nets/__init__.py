"""Built-in score networks."""

from __future__ import annotations

from scorekit.nets.embeddings import FourierEmbedding
from scorekit.nets.mlp import NCSNMLP
from scorekit.nets.score_mlp import ScoreMLP

__all__ = ["NCSNMLP", "FourierEmbedding", "ScoreMLP"]
