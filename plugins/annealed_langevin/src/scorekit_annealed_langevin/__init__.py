"""Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1)."""
