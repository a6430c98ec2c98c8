"""Langevin dynamics: x ← x + (η/2)·s(x) + √η·ε."""
