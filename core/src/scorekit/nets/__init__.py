"""Built-in score networks."""

from __future__ import annotations

from scorekit.nets.embeddings import FourierEmbedding
from scorekit.nets.mlp import NCSNMLP

__all__ = ["NCSNMLP", "FourierEmbedding"]
