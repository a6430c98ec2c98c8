"""Continuous normalizing flows: d z/dt = f(z, t), d log p/dt = −tr(∂f/∂z) (Chen et al. 2018; FFJORD)."""
